/**
 * A thin client for the local Consul agent's HTTP API.
 *
 * Calls the npm `consul` client covers go through it (CLIENT.md):
 * deregistration (`agent.service.deregister`), `agent.self`,
 * `agent.service.list` and `agent.check.list`. Everything it lacks or mangles
 * goes through undici: service registration (it drops `Kind` and `Weights`
 * and has no `replace-existing-checks`), `PUT /v1/agent/check/update/:id`,
 * `/v1/health/connect/:service`, `/v1/health/service/:service` (we need the
 * X-Consul-Index header and our own timeout per blocking query),
 * `/v1/agent/service/:id`, CA roots, leaf and authorize.
 *
 * Every call carries the ACL token (X-Consul-Token) from the TokenSource, so a
 * rotated token file takes effect on the next call. Failures become
 * ConsulApiError: network/timeout/HTTP/ACL/garbage, with 403 texts parsed.
 */
import { Agent as HttpsAgent } from 'node:https';
import { Agent, request, type Dispatcher } from 'undici';
import Consul from 'consul';
import { ConsulApiError } from './errors.ts';
import type { TokenSource } from './token.ts';

export interface ConsulClientOptions {
  /** e.g. http://127.0.0.1:8500 */
  readonly baseUrl: string;
  readonly token: TokenSource;
  /** PEM CA bundle for an https agent. */
  readonly caPem?: string | undefined;
  /** Timeout of non-blocking calls (default 10 s). */
  readonly timeoutMs?: number;
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

export interface CallOptions {
  readonly query?: Record<string, string | number | boolean | undefined> | URLSearchParams;
  readonly body?: unknown;
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number;
}

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface BlockingAnswer {
  /** X-Consul-Index, or undefined when absent/unparsable. */
  readonly index: number | undefined;
  readonly body: unknown;
  /** X-Consul-Results-Filtered-By-Acls: the token could not see some rows. */
  readonly filtered?: boolean;
}

export class ConsulClient {
  readonly baseUrl: string;
  readonly #token: TokenSource;
  readonly #dispatcher: Dispatcher;
  readonly #timeoutMs: number;
  /** The npm client, for the calls it covers. */
  readonly npm: Consul;

  constructor(o: ConsulClientOptions) {
    this.baseUrl = o.baseUrl.replace(/\/$/, '');
    this.#token = o.token;
    this.#timeoutMs = o.timeoutMs ?? 10_000;
    // Blocking queries hold a request open for `wait`: no undici-level header/body timeouts; each call sets its own.
    this.#dispatcher = new Agent({ headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000, ...(o.caPem ? { connect: { ca: o.caPem } } : {}) });
    const u = new URL(this.baseUrl);
    const secure = u.protocol === 'https:';
    this.npm = new Consul({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port || (secure ? 443 : 80)),
      secure,
      ...(secure && o.caPem ? { agent: new HttpsAgent({ ca: o.caPem, keepAlive: true }) } : {}),
    });
  }

  get tokenOrigin(): string { return this.#token.origin; }

  /** One HTTP call. Resolves with any status; rejects only on network trouble or timeout. */
  async call(method: string, path: string, o: CallOptions = {}): Promise<Answer> {
    const qs = o.query instanceof URLSearchParams ? o.query : new URLSearchParams(
      Object.entries(o.query ?? {}).filter(([, v]) => v !== undefined && v !== false).map(([k, v]): [string, string] => [k, v === true ? '' : String(v)]),
    );
    const q = qs.toString().replace(/=(&|$)/g, '$1');
    const url = `${this.baseUrl}${path}${q ? `?${q}` : ''}`;
    const headers: Record<string, string> = {};
    const token = this.#token.get();
    if (token) headers['x-consul-token'] = token;
    let body: string | undefined;
    if (o.body !== undefined) { body = JSON.stringify(o.body); headers['content-type'] = 'application/json'; }
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.#timeoutMs);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    try {
      const res = await request(url, { method: method as Dispatcher.HttpMethod, headers, body, signal, dispatcher: this.#dispatcher });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text };
    } catch (err) {
      if (o.signal?.aborted) throw err;
      if (timeout.aborted) throw new ConsulApiError({ kind: 'timeout', method, path, cause: err });
      const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
      throw new ConsulApiError({ kind: 'network', method, path, body: e.cause?.code ?? e.code ?? e.message, cause: err });
    }
  }

  /** A call that must answer 2xx; anything else becomes a ConsulApiError. */
  async ok(method: string, path: string, o: CallOptions = {}): Promise<Answer> {
    const a = await this.call(method, path, o);
    if (a.status >= 200 && a.status < 300) return a;
    throw new ConsulApiError({ kind: a.status === 403 ? 'acl' : 'http', method, path, status: a.status, body: a.text });
  }

  async json(method: string, path: string, o: CallOptions = {}): Promise<{ answer: Answer; body: unknown }> {
    const answer = await this.ok(method, path, o);
    try {
      return { answer, body: JSON.parse(answer.text) as unknown };
    } catch {
      throw new ConsulApiError({ kind: 'garbage', method, path, status: answer.status, body: `not JSON: ${answer.text.slice(0, 80)}` });
    }
  }

  // === discovery (undici) ===

  /** GET /v1/health/{connect|service}/:service as a blocking query. */
  async health(endpoint: 'connect' | 'service', service: string, o: {
    passing: boolean; datacenter?: string | undefined; filter?: string | undefined; index: number; waitMs: number; signal?: AbortSignal;
  }): Promise<BlockingAnswer> {
    const query: Record<string, string | number | boolean | undefined> = {
      passing: o.passing, dc: o.datacenter, filter: o.filter,
      index: o.index > 0 ? o.index : undefined, wait: o.index > 0 ? `${Math.ceil(o.waitMs / 1000)}s` : undefined,
    };
    // Consul may hold the request for wait + wait/16; allow that plus a margin.
    const timeoutMs = o.index > 0 ? o.waitMs + Math.ceil(o.waitMs / 16) + 5_000 : this.#timeoutMs;
    const { answer, body } = await this.json('GET', `/v1/health/${endpoint}/${encodeURIComponent(service)}`, { query, signal: o.signal, timeoutMs });
    return { index: indexOf(answer), body, filtered: answer.headers['x-consul-results-filtered-by-acls'] === 'true' };
  }

  // === registration (undici: the npm client drops Kind and Weights) ===

  async registerService(body: Record<string, unknown>, o: { replaceExistingChecks?: boolean } = {}): Promise<void> {
    await this.ok('PUT', '/v1/agent/service/register', { body, query: { 'replace-existing-checks': o.replaceExistingChecks ?? false } });
  }

  /** PUT /v1/agent/check/update/:id (the npm client has no check.update). */
  async updateCheck(checkId: string, status: CheckStatus, output: string): Promise<void> {
    await this.ok('PUT', `/v1/agent/check/update/${encodeURIComponent(checkId)}`, { body: { Status: status, Output: output } });
  }

  /** GET /v1/agent/service/:id (hash-blocking when `hash` is given). */
  async agentService(id: string, o: { hash?: string; waitMs?: number; signal?: AbortSignal } = {}): Promise<Record<string, unknown> | undefined> {
    const path = `/v1/agent/service/${encodeURIComponent(id)}`;
    const a = await this.call('GET', path, {
      query: { hash: o.hash, wait: o.hash && o.waitMs ? `${Math.ceil(o.waitMs / 1000)}s` : undefined },
      signal: o.signal, timeoutMs: (o.waitMs ?? 0) + this.#timeoutMs,
    });
    if (a.status === 404) return undefined;
    if (a.status !== 200) throw new ConsulApiError({ kind: a.status === 403 ? 'acl' : 'http', method: 'GET', path, status: a.status, body: a.text });
    return JSON.parse(a.text) as Record<string, unknown>;
  }

  // === connect (undici) ===

  async caRoots(o: { index?: number; waitMs?: number; signal?: AbortSignal } = {}): Promise<BlockingAnswer> {
    const blocking = (o.index ?? 0) > 0;
    const { answer, body } = await this.json('GET', '/v1/agent/connect/ca/roots', {
      query: { index: blocking ? o.index : undefined, wait: blocking ? `${Math.ceil((o.waitMs ?? 300_000) / 1000)}s` : undefined },
      signal: o.signal, timeoutMs: blocking ? (o.waitMs ?? 300_000) * 1.1 + 5_000 : this.#timeoutMs,
    });
    return { index: indexOf(answer), body };
  }

  async leaf(service: string, o: { index?: number; waitMs?: number; signal?: AbortSignal } = {}): Promise<BlockingAnswer> {
    const blocking = (o.index ?? 0) > 0;
    const { answer, body } = await this.json('GET', `/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`, {
      query: { index: blocking ? o.index : undefined, wait: blocking ? `${Math.ceil((o.waitMs ?? 300_000) / 1000)}s` : undefined },
      signal: o.signal, timeoutMs: blocking ? (o.waitMs ?? 300_000) * 1.1 + 5_000 : this.#timeoutMs,
    });
    return { index: indexOf(answer), body };
  }

  async authorize(o: { target: string; clientCertUri: string; clientCertSerial: string }): Promise<{ authorized: boolean; reason: string }> {
    const { body } = await this.json('POST', '/v1/agent/connect/authorize', {
      body: { Target: o.target, ClientCertURI: o.clientCertUri, ClientCertSerial: o.clientCertSerial },
    });
    const b = body as { Authorized?: unknown; Reason?: unknown };
    if (typeof b?.Authorized !== 'boolean') throw new ConsulApiError({ kind: 'garbage', method: 'POST', path: '/v1/agent/connect/authorize', body: 'no Authorized field' });
    return { authorized: b.Authorized, reason: String(b.Reason ?? '') };
  }

  // === via the npm client ===

  async deregisterService(id: string): Promise<void> {
    await this.#npm('PUT', `/v1/agent/service/deregister/${id}`, () => this.npm.agent.service.deregister({ id, ...this.#tokenOpt() }));
  }

  async agentSelf(): Promise<{ datacenter: string; nodeName: string }> {
    const self = await this.#npm('GET', '/v1/agent/self', () => this.npm.agent.self(this.#tokenOpt() as never)) as { Config?: { Datacenter?: string; NodeName?: string } };
    if (typeof self?.Config?.Datacenter !== 'string') throw new ConsulApiError({ kind: 'garbage', method: 'GET', path: '/v1/agent/self', body: 'no Config.Datacenter' });
    return { datacenter: self.Config.Datacenter, nodeName: String(self.Config.NodeName ?? '') };
  }

  async agentServices(): Promise<Record<string, Record<string, unknown>>> {
    return await this.#npm('GET', '/v1/agent/services', () => this.npm.agent.service.list(this.#tokenOpt())) as Record<string, Record<string, unknown>>;
  }

  async agentChecks(): Promise<Record<string, Record<string, unknown>>> {
    return await this.#npm('GET', '/v1/agent/checks', () => this.npm.agent.check.list(this.#tokenOpt() as never)) as Record<string, Record<string, unknown>>;
  }

  #tokenOpt(): { token?: string } {
    const token = this.#token.get();
    return token ? { token } : {};
  }

  /** Run an npm-client call and turn its papi errors into ConsulApiError. */
  async #npm(method: string, path: string, fn: () => Promise<unknown>): Promise<unknown> {
    try {
      return await fn();
    } catch (err) {
      const e = err as Error & { statusCode?: number; isResponse?: boolean; isTimeout?: boolean; response?: { body?: unknown }; code?: string };
      if (e.isTimeout) throw new ConsulApiError({ kind: 'timeout', method, path, cause: err });
      if (e.statusCode !== undefined) {
        const body = typeof e.response?.body === 'string' ? e.response.body : Buffer.isBuffer(e.response?.body) ? e.response.body.toString() : e.message;
        throw new ConsulApiError({ kind: e.statusCode === 403 ? 'acl' : 'http', method, path, status: e.statusCode, body, cause: err });
      }
      throw new ConsulApiError({ kind: 'network', method, path, body: e.code ?? e.message, cause: err });
    }
  }

  async close(): Promise<void> {
    this.npm.destroy();
    await this.#dispatcher.close();
  }
}

function indexOf(a: Answer): number | undefined {
  const h = a.headers['x-consul-index'];
  const v = Array.isArray(h) ? h[0] : h;
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}
