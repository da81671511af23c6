/**
 * Intentions from Consul: the inbound filter asks the local Consul agent
 * (`POST /v1/agent/connect/authorize`) whether the caller's SPIFFE ID may
 * reach this service, and caches each answer per caller for `cache_ttl`.
 *
 * The hot path stays synchronous for callers already in the cache (the usual
 * case: a handful of callers, many requests); only a cache miss waits on
 * Consul, through the async-filter hook. Static stability: when Consul cannot
 * answer, a stale cached answer is used; with none, `on_error` decides
 * (`deny` by default: an unknown caller is not let in because Consul blinked).
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import { Verdict } from '../core/filter.ts';
import { ProxyError } from '../core/errors.ts';
import type { Logger } from '../telemetry/log.ts';

export interface ConsulAuthorizer {
  authorize(o: { target: string; clientCertUri: string; clientCertSerial: string }): Promise<{ authorized: boolean; reason: string }>;
}

interface Entry { allowed: boolean; reason: string; at: number }

export interface ConsulAuthzOptions {
  readonly target: string;
  readonly cacheTtlMs: number;
  readonly onError: 'deny' | 'allow';
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export class ConsulAuthzFilter implements Filter {
  readonly name = 'authz-consul';
  readonly #client: ConsulAuthorizer;
  readonly #o: ConsulAuthzOptions;
  readonly #log: Logger;
  readonly #cache = new Map<string, Entry>();
  readonly #now: () => number;
  stats = { allowed: 0, denied: 0, lookups: 0, errors: 0 };

  constructor(client: ConsulAuthorizer, o: ConsulAuthzOptions, log: Logger) {
    this.#client = client;
    this.#o = o;
    this.#log = log;
    this.#now = o.now ?? Date.now;
  }

  #fresh(peer: string): Entry | undefined {
    const e = this.#cache.get(peer);
    return e !== undefined && this.#now() - e.at < this.#o.cacheTtlMs ? e : undefined;
  }

  #apply(ctx: RequestCtx, e: { allowed: boolean; reason: string }): Verdict {
    if (e.allowed) { this.stats.allowed++; return Verdict.Continue; }
    this.stats.denied++;
    ctx.error = new ProxyError('authz_denied', `${ctx.peerIdentity ?? 'an unauthenticated caller'} is not allowed by Consul: ${e.reason}`);
    return Verdict.Reply;
  }

  /** Cached answers decide synchronously; a miss is left to onRequestAsync. */
  onRequest(ctx: RequestCtx): Verdict {
    if (ctx.peerIdentity === undefined) return this.#apply(ctx, { allowed: false, reason: 'no client certificate' });
    const e = this.#fresh(ctx.peerIdentity);
    return e === undefined ? Verdict.Continue : this.#apply(ctx, e);
  }

  onRequestAsync(ctx: RequestCtx): Promise<Verdict> | null {
    const peer = ctx.peerIdentity;
    if (peer === undefined || this.#fresh(peer) !== undefined) return null;
    return this.#lookup(peer).then((e) => this.#apply(ctx, e));
  }

  async #lookup(peer: string): Promise<{ allowed: boolean; reason: string }> {
    this.stats.lookups++;
    try {
      const r = await this.#client.authorize({ target: this.#o.target, clientCertUri: peer, clientCertSerial: '' });
      if (this.#cache.size >= (this.#o.maxEntries ?? 10_000)) this.#cache.clear();
      const e = { allowed: r.authorized, reason: r.reason || (r.authorized ? 'allowed' : 'denied'), at: this.#now() };
      this.#cache.set(peer, e);
      return e;
    } catch (err) {
      this.stats.errors++;
      const stale = this.#cache.get(peer);
      this.#log.warn({ peer, err: (err as Error).message, using: stale ? 'stale answer' : `on_error ${this.#o.onError}` }, 'consul authorize failed');
      if (stale) return stale;
      return { allowed: this.#o.onError === 'allow', reason: `Consul did not answer (${(err as Error).message}); on_error: ${this.#o.onError}` };
    }
  }

  explain(ctx: RequestCtx): Record<string, unknown> {
    const e = ctx.peerIdentity === undefined ? undefined : this.#cache.get(ctx.peerIdentity);
    return { source: 'consul /v1/agent/connect/authorize', cached: e ?? null, stats: this.stats };
  }
}
