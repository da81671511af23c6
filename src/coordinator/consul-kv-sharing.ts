/**
 * ViewSharing over Consul KV. Each replica writes its agents' records under
 * `<prefix>/<replica>/<n>` (chunks below Consul's 512 KiB value limit) and
 * deletes chunks it no longer needs; readers list `<prefix>/` recursively and
 * keep every other replica's records. A replica that dies leaves its keys
 * behind, but its records simply age out through the liveness rule (their
 * `lastSeenMs` stops moving), so no lock or session is needed.
 *
 * Plain Consul HTTP API (`/v1/kv`) over undici.
 */
import { request } from 'undici';
import type { AgentRecord } from './model.ts';
import type { ViewSharing } from './view-sharing.ts';

export interface ConsulKvOptions {
  /** e.g. http://127.0.0.1:8500 */
  readonly address: string;
  readonly token?: string;
  readonly prefix?: string;
  readonly datacenter?: string;
  readonly timeoutMs?: number;
}

const CHUNK_BYTES = 400 * 1024;

interface Chunk { readonly replica: string; readonly records: readonly AgentRecord[] }

export class ConsulKvSharing implements ViewSharing {
  readonly mode = 'consul' as const;
  readonly note: string;
  readonly #base: URL;
  readonly #prefix: string;
  readonly #headers: Record<string, string>;
  readonly #dc: string | undefined;
  readonly #timeout: number;
  #chunksWritten = 0;

  constructor(o: ConsulKvOptions) {
    this.#base = new URL(o.address);
    if (this.#base.protocol !== 'http:' && this.#base.protocol !== 'https:') throw new TypeError(`consul address must be http(s)://, got '${o.address}'`);
    this.#prefix = (o.prefix ?? 'aim-mesh/coordinator/v1/agents').replace(/^\/+|\/+$/g, '');
    this.#headers = o.token ? { 'x-consul-token': o.token } : {};
    this.#dc = o.datacenter;
    this.#timeout = o.timeoutMs ?? 5000;
    this.note = `Replicas share their agents through Consul KV at ${this.#base.origin}/${this.#prefix}.`;
  }

  #url(key: string, query: Record<string, string> = {}): URL {
    const u = new URL(`/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}`, this.#base);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    if (this.#dc) u.searchParams.set('dc', this.#dc);
    return u;
  }

  async #call(method: 'GET' | 'PUT' | 'DELETE', url: URL, body?: string): Promise<{ status: number; text: string }> {
    const res = await request(url, { method, headers: this.#headers, body, headersTimeout: this.#timeout, bodyTimeout: this.#timeout });
    const text = await res.body.text();
    if (res.statusCode >= 400 && res.statusCode !== 404) throw new Error(`consul ${method} ${url.pathname}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    return { status: res.statusCode, text };
  }

  async publish(replica: string, records: readonly AgentRecord[]): Promise<void> {
    const chunks: string[] = [];
    let cur: AgentRecord[] = [];
    let size = 0;
    const flush = (): void => {
      chunks.push(JSON.stringify({ replica, records: cur } satisfies Chunk));
      cur = [];
      size = 0;
    };
    for (const r of records) {
      const n = JSON.stringify(r).length;
      if (size + n > CHUNK_BYTES && cur.length > 0) flush();
      cur.push(r);
      size += n;
    }
    if (cur.length > 0 || chunks.length === 0) flush();
    for (let i = 0; i < chunks.length; i++) await this.#call('PUT', this.#url(`${this.#prefix}/${replica}/${i}`), chunks[i]);
    for (let i = chunks.length; i < this.#chunksWritten; i++) await this.#call('DELETE', this.#url(`${this.#prefix}/${replica}/${i}`));
    this.#chunksWritten = chunks.length;
  }

  async peers(replica: string): Promise<AgentRecord[]> {
    const { status, text } = await this.#call('GET', this.#url(`${this.#prefix}/`, { recurse: 'true' }));
    if (status === 404) return [];
    const out: AgentRecord[] = [];
    for (const e of JSON.parse(text) as { Key: string; Value: string | null }[]) {
      if (!e.Value || e.Key.startsWith(`${this.#prefix}/${replica}/`)) continue;
      try {
        const c = JSON.parse(Buffer.from(e.Value, 'base64').toString('utf8')) as Chunk;
        if (c.replica !== replica && Array.isArray(c.records)) out.push(...c.records);
      } catch {
        // A chunk being rewritten or garbage: skip it this round.
      }
    }
    return out;
  }

  async close(): Promise<void> {}
}
