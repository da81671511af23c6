/**
 * ACLs for the Consul-API test server: tokens with rules, the default
 * policy, and Consul's 403 texts (acl/errors.go):
 * - unknown token → `ACL not found`;
 * - missing right → `Permission denied: token with AccessorID '<id>' lacks
 *   permission 'service:write' on "web"`, or for the anonymous token
 *   `Permission denied: anonymous token lacks permission 'service:write' on
 *   "web". The anonymous token is used implicitly when a request does not
 *   specify a token.`
 * Rule lookup follows Consul: an exact rule beats a prefix rule, the longest
 * prefix wins, `write` implies `read`, `deny` denies, and with no matching
 * rule the default policy decides.
 */
import { randomUUID } from 'node:crypto';
import { HttpError, type Req } from './http.ts';

export type Access = 'read' | 'write' | 'deny';
export type Resource = 'service' | 'node' | 'key' | 'agent' | 'session' | 'intention';
type RuleValue = Access | { policy?: Access; intentions?: Access };

/** Rules in the shape of Consul's HCL: `{ service_prefix: { '': 'read' }, service: { web: 'write' } }`. */
export interface AclRules {
  service?: Record<string, RuleValue>;
  service_prefix?: Record<string, RuleValue>;
  node?: Record<string, Access>;
  node_prefix?: Record<string, Access>;
  key?: Record<string, Access>;
  key_prefix?: Record<string, Access>;
  agent?: Record<string, Access>;
  agent_prefix?: Record<string, Access>;
  session?: Record<string, Access>;
  session_prefix?: Record<string, Access>;
}

export interface AclTokenSpec {
  /** Default: a random UUID (returned by setToken). */
  secretId?: string;
  accessorId?: string;
  description?: string;
  /** A management token may do anything. */
  management?: boolean;
  rules?: AclRules;
}

interface Token { secretId: string; accessorId: string; management: boolean; rules: AclRules; anonymous: boolean }

export const ANONYMOUS_ACCESSOR = '00000000-0000-0000-0000-000000000002';

export class AclState {
  enabled = false;
  defaultPolicy: 'allow' | 'deny' = 'allow';
  /** The agent's default token (`acl.tokens.default`), used when a request names none. */
  agentDefaultToken: string | undefined;
  readonly #tokens = new Map<string, Token>();
  #anonymous: Token = { secretId: 'anonymous', accessorId: ANONYMOUS_ACCESSOR, management: false, rules: {}, anonymous: true };

  enable(defaultPolicy: 'allow' | 'deny' = 'deny'): void {
    this.enabled = true;
    this.defaultPolicy = defaultPolicy;
  }

  disable(): void {
    this.enabled = false;
    this.defaultPolicy = 'allow';
  }

  setToken(spec: AclTokenSpec): { secretId: string; accessorId: string } {
    const t: Token = {
      secretId: spec.secretId ?? randomUUID(),
      accessorId: spec.accessorId ?? randomUUID(),
      management: spec.management ?? false,
      rules: spec.rules ?? {},
      anonymous: false,
    };
    this.#tokens.set(t.secretId, t);
    return { secretId: t.secretId, accessorId: t.accessorId };
  }

  deleteToken(secretId: string): void {
    this.#tokens.delete(secretId);
  }

  setAnonymousRules(rules: AclRules): void {
    this.#anonymous = { ...this.#anonymous, rules };
  }

  /** The token secret a request carries: ?token > X-Consul-Token > Authorization: Bearer > agent default. */
  static tokenOf(req: Req): string | undefined {
    const q = req.get('token');
    if (q) return q;
    const h = req.headers['x-consul-token'];
    if (typeof h === 'string' && h !== '') return h;
    const auth = req.headers['authorization'];
    if (typeof auth === 'string') {
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      if (m) return m[1];
    }
    return undefined;
  }

  /** Resolve the request's token. 403 `ACL not found` for an unknown secret (only with ACLs enabled). */
  authorizer(req: Req): Authorizer {
    const secret = AclState.tokenOf(req) ?? this.agentDefaultToken;
    if (!this.enabled) return new Authorizer(undefined, 'allow', true);
    if (secret === undefined || secret === '' || secret === 'anonymous') return new Authorizer(this.#anonymous, this.defaultPolicy, false);
    const t = this.#tokens.get(secret);
    if (!t) throw new HttpError(403, 'ACL not found');
    return new Authorizer(t, this.defaultPolicy, false);
  }
}

export class Authorizer {
  readonly #token: Token | undefined;
  readonly #default: 'allow' | 'deny';
  readonly #disabled: boolean;
  constructor(token: Token | undefined, defaultPolicy: 'allow' | 'deny', disabled: boolean) {
    this.#token = token;
    this.#default = defaultPolicy;
    this.#disabled = disabled;
  }

  /** A token was named explicitly (lists set X-Consul-Results-Filtered-By-Acls only then). */
  get named(): boolean { return this.#token !== undefined && !this.#token.anonymous; }
  get aclEnabled(): boolean { return !this.#disabled; }

  allowed(resource: Resource, name: string, access: 'read' | 'write'): boolean {
    if (this.#disabled || this.#token?.management) return true;
    const decided = this.#lookup(resource, name);
    const level = decided ?? (this.#default === 'allow' ? 'write' : 'deny');
    if (level === 'deny') return false;
    if (access === 'read') return true;
    return level === 'write';
  }

  /** 403 with Consul's text unless allowed. */
  require(resource: Resource, name: string, access: 'read' | 'write'): void {
    if (this.allowed(resource, name, access)) return;
    throw permissionDenied(this.#token, `${resource}:${access}`, name);
  }

  #lookup(resource: Resource, name: string): Access | undefined {
    const rules = this.#token?.rules ?? {};
    const pick = (v: RuleValue | undefined): Access | undefined => {
      if (v === undefined) return undefined;
      if (typeof v === 'string') return resource === 'intention' ? undefined : v;
      return resource === 'intention' ? v.intentions : v.policy;
    };
    const base = resource === 'intention' ? 'service' : resource;
    const exact = (rules as Record<string, Record<string, RuleValue> | undefined>)[base];
    const prefix = (rules as Record<string, Record<string, RuleValue> | undefined>)[`${base}_prefix`];
    const e = pick(exact?.[name]);
    if (e !== undefined) return e;
    let best: { len: number; v: Access } | undefined;
    for (const [p, v] of Object.entries(prefix ?? {})) {
      const a = pick(v);
      if (a !== undefined && name.startsWith(p) && (!best || p.length > best.len)) best = { len: p.length, v: a };
    }
    return best?.v;
  }
}

export function permissionDenied(token: Token | undefined, permission: string, name: string): HttpError {
  if (!token || token.anonymous) {
    return new HttpError(403, `Permission denied: anonymous token lacks permission '${permission}' on "${name}". The anonymous token is used implicitly when a request does not specify a token.`);
  }
  return new HttpError(403, `Permission denied: token with AccessorID '${token.accessorId}' lacks permission '${permission}' on "${name}"`);
}
