/**
 * Authorization (intentions): may this caller reach this service?
 *
 * Rules come from config (`authz:` in options.ts). Each names a source
 * service (or `*`, any authenticated service), optionally a namespace, an
 * action (allow | deny), and optionally L7 conditions for HTTP: a path prefix,
 * methods, and header matches. Pure and compiled once; a check is a map lookup
 * plus a walk over that source's few rules, with no allocation on the way.
 *
 * Order, as Consul's intention precedence: rules naming the exact source
 * service come before `*` rules; within each group, config order. The first
 * rule that applies decides; none → the default policy.
 * - HTTP request: a rule applies when its source matches and all of its L7
 *   conditions hold.
 * - Opaque TCP connection: a rule without L7 conditions applies when its source
 *   matches. A matching-source rule WITH L7 conditions cannot be honoured on a
 *   byte stream, so it denies (Consul: "Matched L7 intention" is never
 *   authorized at L4).
 * - No verified peer (plaintext inbound, mTLS off): only the default applies.
 *
 * The result names the rule (`rules[2] web-to-api` or `default`) for /explain
 * and the access log. Paths are matched as given: the caller passes the
 * normalised path, without the query string.
 */
import type { SpiffeId } from './types.ts';

export type AuthzAction = 'allow' | 'deny';

export interface HeaderMatch {
  /** Header name (matched case-insensitively). */
  readonly name: string;
  readonly exact?: string | undefined;
  readonly prefix?: string | undefined;
  readonly suffix?: string | undefined;
  /** true: must be present; false: must be absent. */
  readonly present?: boolean | undefined;
  /** Negate the match. */
  readonly invert?: boolean | undefined;
}

export interface HttpConditions {
  readonly path_prefix?: string | undefined;
  /** Upper-case method names. */
  readonly methods?: readonly string[] | undefined;
  readonly headers?: readonly HeaderMatch[] | undefined;
}

export interface AuthzRule {
  readonly name?: string | undefined;
  /** Source service name, or '*' for any authenticated service. */
  readonly source: string;
  /** Source namespace; unset matches any. */
  readonly namespace?: string | undefined;
  readonly action: AuthzAction;
  readonly http?: HttpConditions | undefined;
}

export interface AuthzConfig {
  readonly default: AuthzAction;
  readonly rules: readonly AuthzRule[];
}

/** What an HTTP check needs from the request head. `header` gets lower-case names. */
export interface HttpFacts {
  readonly method: string;
  readonly path: string;
  header(name: string): string | undefined;
}

export interface AuthzDecision {
  readonly allowed: boolean;
  /** The deciding rule's label, or 'default'. */
  readonly rule: string;
}

interface Compiled {
  readonly label: string;
  readonly namespace: string | undefined;
  readonly allowed: boolean;
  readonly http: HttpConditions | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  /** Decision objects built once, so a check allocates nothing. */
  readonly decision: AuthzDecision;
  readonly l7OnTcp: AuthzDecision;
}

function headerOk(m: HeaderMatch, value: string | undefined): boolean {
  let ok: boolean;
  if (m.present !== undefined) ok = (value !== undefined) === m.present;
  else if (value === undefined) ok = false;
  else if (m.exact !== undefined) ok = value === m.exact;
  else if (m.prefix !== undefined) ok = value.startsWith(m.prefix);
  else if (m.suffix !== undefined) ok = value.endsWith(m.suffix);
  else ok = true;
  return m.invert ? !ok : ok;
}

function httpOk(c: Compiled, req: HttpFacts): boolean {
  const h = c.http!;
  if (h.path_prefix !== undefined && !req.path.startsWith(h.path_prefix)) return false;
  if (c.methods !== undefined && !c.methods.has(req.method)) return false;
  if (h.headers !== undefined) {
    for (const m of h.headers) if (!headerOk(m, req.header(m.name))) return false;
  }
  return true;
}

export class Authorizer {
  readonly #exact = new Map<string, Compiled[]>();
  readonly #wildcard: Compiled[] = [];
  readonly #default: AuthzDecision;

  constructor(config: AuthzConfig) {
    this.#default = { allowed: config.default === 'allow', rule: 'default' };
    config.rules.forEach((r, i) => {
      const label = r.name ? `rules[${i}] ${r.name}` : `rules[${i}]`;
      const http = r.http && (r.http.path_prefix !== undefined || r.http.methods?.length || r.http.headers?.length)
        ? { ...r.http, headers: r.http.headers?.map((h) => ({ ...h, name: h.name.toLowerCase() })) }
        : undefined;
      const c: Compiled = {
        label,
        namespace: r.namespace,
        allowed: r.action === 'allow',
        http,
        methods: http?.methods?.length ? new Set(http.methods.map((m) => m.toUpperCase())) : undefined,
        decision: { allowed: r.action === 'allow', rule: label },
        l7OnTcp: { allowed: false, rule: label },
      };
      if (r.source === '*') this.#wildcard.push(c);
      else {
        const list = this.#exact.get(r.source) ?? [];
        list.push(c);
        this.#exact.set(r.source, list);
      }
    });
  }

  /** Decide for a caller; `req` present → HTTP semantics, absent → opaque TCP. */
  check(peer: SpiffeId | undefined, req?: HttpFacts): AuthzDecision {
    if (peer === undefined) return this.#default;
    return this.#walk(this.#exact.get(peer.service), peer, req)
      ?? this.#walk(this.#wildcard, peer, req)
      ?? this.#default;
  }

  #walk(list: readonly Compiled[] | undefined, peer: SpiffeId, req: HttpFacts | undefined): AuthzDecision | undefined {
    if (list === undefined) return undefined;
    for (const c of list) {
      if (c.namespace !== undefined && c.namespace !== peer.namespace) continue;
      if (c.http === undefined) return c.decision;
      if (req === undefined) return c.l7OnTcp;
      if (httpOk(c, req)) return c.decision;
    }
    return undefined;
  }
}
