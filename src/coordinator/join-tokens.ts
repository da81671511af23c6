/**
 * Join tokens: the bootstrap credential an agent presents to Certify before it
 * has a certificate. Each token is mapped in config to the services it may
 * claim (`*` = any service of the trust domain, meant for demos and tests).
 *
 * Tokens are stored only as SHA-256 digests and compared in constant time
 * against every entry, so neither timing nor the order of entries tells which
 * token exists.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface JoinTokenSpec {
  readonly token: string;
  /** Service name the token may claim, or '*'. */
  readonly service: string;
}

export type TokenCheck =
  | { readonly ok: true; readonly service: string }
  | { readonly ok: false; readonly why: 'unknown_token' | 'service_not_allowed' };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class JoinTokens {
  readonly #entries: readonly { readonly digest: Buffer; readonly service: string }[];

  constructor(specs: readonly JoinTokenSpec[]) {
    for (const s of specs) {
      if (s.token.length < 8) throw new TypeError(`join token for '${s.service}' is shorter than 8 characters`);
      if (s.service !== '*' && !/^[A-Za-z0-9._-]+$/.test(s.service)) throw new TypeError(`join token service '${s.service}' is not a service name or '*'`);
    }
    this.#entries = specs.map((s) => ({ digest: digest(s.token), service: s.service }));
  }

  get size(): number { return this.#entries.length; }

  /** May `token` claim an identity of `service`? */
  check(token: string, service: string): TokenCheck {
    const d = digest(token);
    let known = false;
    let allowed = false;
    for (const e of this.#entries) {
      if (timingSafeEqual(d, e.digest)) {
        known = true;
        if (e.service === '*' || e.service === service) allowed = true;
      }
    }
    if (allowed) return { ok: true, service };
    return { ok: false, why: known ? 'service_not_allowed' : 'unknown_token' };
  }
}

/** Parse the CLI form `SERVICE=TOKEN` (SERVICE may be '*'). */
export function parseJoinTokenFlag(s: string): JoinTokenSpec {
  const i = s.indexOf('=');
  if (i <= 0 || i === s.length - 1) throw new TypeError(`--join-token expects SERVICE=TOKEN (SERVICE may be '*'), got '${s}'`);
  return { service: s.slice(0, i), token: s.slice(i + 1) };
}
