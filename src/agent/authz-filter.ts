/**
 * The inbound authorization filter (intentions): the caller's verified
 * SPIFFE ID, and for HTTP the method, path and headers, against the rules.
 * A denial is a local reply with reason `authz_denied` (403 for HTTP; for TCP
 * the forwarder closes the connection and logs). A denied request never
 * reaches the app. The deciding rule is remembered for /explain.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import { Verdict, headerValue } from '../core/filter.ts';
import { ProxyError } from '../core/errors.ts';
import { Authorizer, type AuthzConfig, type HttpFacts } from '../identity/authz.ts';
import { parseSpiffeId } from '../identity/spiffe.ts';
import type { SpiffeId } from '../identity/types.ts';

const MAX_CACHED_IDS = 1024;

export class AuthzFilter implements Filter {
  readonly name = 'authz';
  readonly authorizer: Authorizer;
  denied = 0;
  allowed = 0;
  /** Parsed peer IDs: a handful of callers, parsed once each. */
  readonly #ids = new Map<string, SpiffeId | undefined>();
  readonly #facts: HttpFacts & { ctx: RequestCtx | undefined } = {
    ctx: undefined,
    get method() { return this.ctx!.method; },
    get path() { const t = this.ctx!.target; const q = t.indexOf('?'); return q === -1 ? t : t.slice(0, q); },
    header(name: string) { return headerValue(this.ctx!.headers, name); },
  };

  constructor(config: AuthzConfig) {
    this.authorizer = new Authorizer(config);
  }

  #peer(id: string | undefined): SpiffeId | undefined {
    if (id === undefined) return undefined;
    if (this.#ids.has(id)) return this.#ids.get(id);
    const r = parseSpiffeId(id);
    const parsed = r.ok ? r.id : undefined;
    if (this.#ids.size >= MAX_CACHED_IDS) this.#ids.clear();
    this.#ids.set(id, parsed);
    return parsed;
  }

  /** The decision for a request (no side effects): also used by /explain. */
  decide(ctx: RequestCtx) {
    const peer = this.#peer(ctx.peerIdentity);
    if (ctx.protocol === 'tcp') return this.authorizer.check(peer);
    this.#facts.ctx = ctx;
    const d = this.authorizer.check(peer, this.#facts);
    this.#facts.ctx = undefined;
    return d;
  }

  onRequest(ctx: RequestCtx): Verdict {
    const d = this.decide(ctx);
    if (d.allowed) { this.allowed++; return Verdict.Continue; }
    this.denied++;
    ctx.error = new ProxyError('authz_denied', `${ctx.peerIdentity ?? 'an unauthenticated caller'} is not allowed (${d.rule})`);
    return Verdict.Reply;
  }
}
