/**
 * The `consul` identity source: the leaf and roots from Consul's Connect CA,
 * kept fresh with blocking queries (undici; the npm client does not cover
 * these endpoints):
 *   GET /v1/agent/connect/ca/roots        → the trust bundle (every listed root:
 *                                           old and new during a rotation)
 *   GET /v1/agent/connect/ca/leaf/:name   → leaf cert + key for our service
 * Each runs its own loop: `?index=<last X-Consul-Index>&wait=<w>`; the answer
 * is compared with what we hold and published only when it changed. An index
 * that goes backwards (Consul restored or restarted) resets to 0, as the
 * blocking-query contract asks. Errors back off exponentially and keep the
 * last good identity. Consul's agent renews leaves itself; as a safety net we
 * also ask, without an index, at 90% of the leaf's lifetime.
 *
 * A roots change that no longer covers our current leaf is not published (the
 * material would not validate); the leaf loop brings the new leaf right after.
 */
import type { Dispatcher } from 'undici';
import { materialFromPem } from '../material.ts';
import { splitPemCertificates } from '../pem.ts';
import { renewAt, retryDelay } from '../renewal.ts';
import { SourceBase, type SourceBaseOptions } from '../source-base.ts';
import type { IdentityMaterial } from '../types.ts';

export interface ConsulSourceOptions extends SourceBaseOptions {
  /** Consul agent HTTP address, e.g. http://127.0.0.1:8500. */
  readonly address: string;
  readonly token?: string | undefined;
  /** The service NAME whose leaf we need (the agent's own service). */
  readonly service: string;
  readonly datacenter?: string | undefined;
  /** Blocking-query wait in seconds (default 300, Consul's default; max 600). */
  readonly waitSeconds?: number;
  /** How long start() keeps trying before it fails (default 30 s). */
  readonly startTimeoutMs?: number;
  readonly dispatcher?: Dispatcher;
}

interface RootsBody { TrustDomain?: string; Roots?: Array<{ RootCert?: string; IntermediateCerts?: string[] | null; Active?: boolean }> }
interface LeafBody { CertPEM?: string; PrivateKeyPEM?: string; SerialNumber?: string }

export class ConsulSource extends SourceBase {
  readonly kind = 'consul';
  readonly #o: ConsulSourceOptions;
  readonly #abort = new AbortController();
  readonly #wait: number;
  #roots: { trustDomain: string | undefined; pems: string[]; intermediates: string[] } | undefined;
  #leaf: { certPem: string; keyPem: string } | undefined;
  #loops: Promise<void>[] = [];

  constructor(opts: ConsulSourceOptions) {
    super(opts);
    if (!/^https?:\/\//.test(opts.address)) throw new RangeError(`consul identity: address must be http(s)://host:port, got ${opts.address}`);
    if (opts.service.length === 0) throw new RangeError('consul identity: service name required');
    this.#wait = Math.min(600, Math.max(1, opts.waitSeconds ?? 300));
    this.#o = opts;
  }

  async start(): Promise<IdentityMaterial> {
    const deadline = this.now() + (this.#o.startTimeoutMs ?? 30_000);
    let attempt = 0;
    let rootsIndex = 0;
    let leafIndex = 0;
    for (;;) {
      try {
        const roots = await this.#get<RootsBody>('/v1/agent/connect/ca/roots', 0);
        this.#roots = parseRoots(roots.body);
        rootsIndex = roots.index;
        const leaf = await this.#get<LeafBody>(this.#leafPath(), 0);
        this.#leaf = parseLeaf(leaf.body);
        leafIndex = leaf.index;
        const m = this.#assemble();
        this.#publishNew(m);
        break;
      } catch (err) {
        this.failed(err, `fetching identity from consul ${this.#o.address}`);
        if (this.closed || this.now() > deadline) throw err;
        await sleep(retryDelay(++attempt, this.now(), undefined), this.#abort.signal);
      }
    }
    this.#loops = [
      this.#loop('/v1/agent/connect/ca/roots', rootsIndex, (b: RootsBody) => { this.#roots = parseRoots(b); }),
      this.#loop(this.#leafPath(), leafIndex, (b: LeafBody) => { this.#leaf = parseLeaf(b); }),
    ];
    return this.current()!;
  }

  /** Ask the agent now, without an index (it re-checks expiry and roots, and re-issues if needed). */
  async renew(): Promise<IdentityMaterial> {
    try {
      const leaf = await this.#get<LeafBody>(this.#leafPath(), 0);
      this.#leaf = parseLeaf(leaf.body);
      const m = await this.#assembleOrRefreshRoots();
      this.#publishNew(m);
      return this.current() ?? m;
    } catch (err) {
      this.failed(err, 'renewing the consul leaf');
      throw err;
    }
  }

  override async close(): Promise<void> {
    this.#abort.abort();
    await super.close();
    await Promise.allSettled(this.#loops);
  }

  protected details(): Record<string, string> {
    return { address: this.#o.address, service: this.#o.service, ...(this.#o.datacenter ? { datacenter: this.#o.datacenter } : {}) };
  }

  #leafPath(): string {
    return `/v1/agent/connect/ca/leaf/${encodeURIComponent(this.#o.service)}`;
  }

  #assemble(): IdentityMaterial {
    if (this.#roots === undefined || this.#leaf === undefined) throw new Error('consul identity: roots and leaf not both known');
    const certs = splitPemCertificates(this.#leaf.certPem);
    const chain = certs.length > 1 ? certs.slice(1) : this.#roots.intermediates;
    return materialFromPem({
      keyPem: this.#leaf.keyPem, certChainPem: [certs[0] ?? '', ...chain].join(''),
      rootsPem: this.#roots.pems, trustDomain: this.#roots.trustDomain, now: this.now(),
    });
  }

  /**
   * A leaf that does not chain to the roots we hold means our roots are stale
   * (e.g. after an index reset that left the roots index unchanged): fetch
   * them once, without blocking, before giving up.
   */
  async #assembleOrRefreshRoots(): Promise<IdentityMaterial> {
    try {
      return this.#assemble();
    } catch (err) {
      if (!/does not chain/.test((err as Error).message)) throw err;
      this.#roots = parseRoots((await this.#get<RootsBody>('/v1/agent/connect/ca/roots', 0)).body);
      return this.#assemble();
    }
  }

  /** Publish `m` unless it is what we already hold; plan the safety-net renewal. */
  #publishNew(m: IdentityMaterial): void {
    const cur = this.current();
    if (this.closed) return;
    if (cur !== undefined && cur.certPem === m.certPem && cur.rootsPem.join('') === m.rootsPem.join('')) return;
    this.publish(m);
    this.scheduleAt(renewAt(m.notBefore.getTime(), m.notAfter.getTime(), 0.9), () => {
      this.renew().catch(() => { /* counted and logged in renew */ });
    });
  }

  async #loop<T>(path: string, startIndex: number, apply: (body: T) => void): Promise<void> {
    let index = startIndex;
    let attempt = 0;
    while (!this.closed) {
      try {
        const res = await this.#get<T>(path, index);
        attempt = 0;
        if (res.index < index) {
          index = 0; // the store went backwards: restart from a non-blocking read
          continue;
        }
        const changed = res.index !== index;
        index = res.index;
        if (!changed) continue;
        apply(res.body);
        this.#publishNew(await this.#assembleOrRefreshRoots());
      } catch (err) {
        if (this.closed) return;
        this.failed(err, `consul blocking query ${path}`);
        await sleep(retryDelay(++attempt, this.now(), this.current()?.notAfter.getTime()), this.#abort.signal);
      }
    }
  }

  async #get<T>(path: string, index: number): Promise<{ body: T; index: number }> {
    const url = new URL(path, this.#o.address);
    if (index > 0) {
      url.searchParams.set('index', String(index));
      url.searchParams.set('wait', `${this.#wait}s`);
    }
    if (this.#o.datacenter) url.searchParams.set('dc', this.#o.datacenter);
    const headers: Record<string, string> = {};
    if (this.#o.token) headers['x-consul-token'] = this.#o.token;
    // Consul may hold a blocking query for wait + wait/16; allow for that and a little more.
    const timeout = (index > 0 ? this.#wait * 1000 * (17 / 16) : 0) + 10_000;
    // undici loads with the first query: create-source.ts imports this file for every agent.
    const { request } = await import('undici');
    const res = await request(url, {
      method: 'GET', headers, signal: this.#abort.signal, headersTimeout: timeout, bodyTimeout: timeout,
      ...(this.#o.dispatcher ? { dispatcher: this.#o.dispatcher } : {}),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${text.slice(0, 200)}`);
    const raw = res.headers['x-consul-index'];
    const parsedIndex = Number(Array.isArray(raw) ? raw[0] : raw);
    return { body: JSON.parse(text) as T, index: Number.isSafeInteger(parsedIndex) && parsedIndex > 0 ? parsedIndex : 1 };
  }
}

function parseRoots(b: RootsBody): { trustDomain: string | undefined; pems: string[]; intermediates: string[] } {
  const roots = b.Roots ?? [];
  const pems = roots.flatMap((r) => (r.RootCert ? splitPemCertificates(r.RootCert) : []));
  if (pems.length === 0) throw new Error('consul returned no CA roots');
  const active = roots.find((r) => r.Active);
  const intermediates = (active?.IntermediateCerts ?? []).flatMap((p) => splitPemCertificates(p));
  return { trustDomain: b.TrustDomain || undefined, pems, intermediates };
}

function parseLeaf(b: LeafBody): { certPem: string; keyPem: string } {
  if (!b.CertPEM || !b.PrivateKeyPEM) throw new Error('consul leaf response lacks CertPEM or PrivateKeyPEM');
  return { certPem: b.CertPEM, keyPem: b.PrivateKeyPEM };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return; }
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
    signal.addEventListener('abort', done, { once: true });
  });
}
