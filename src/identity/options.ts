/**
 * The `identity:` and `authz:` config sections (zod v4), with every default,
 * mounted by config/schema.ts. Zero configuration means: local-ca source, CA
 * in `certs/`, 24 h ECDSA leaves renewed at 70%, trust domain `aim.local`,
 * namespace `default`, datacenter `dc1`, and an allow-by-default authz policy
 * (so the demo works before anyone writes a rule; set `authz.default: deny`
 * for zero trust).
 *
 * The agent's SPIFFE ID is `spiffe://<trust_domain>/ns/<namespace>/dc/<datacenter>/svc/<service.name>`.
 */
import { z } from 'zod';
import { duration } from '../config/duration.ts';
import { isValidSegment, isValidTrustDomain } from './spiffe.ts';

const segment = z.string().refine(isValidSegment, 'expected letters, digits, . - _ (not "." or "..")');
const trustDomain = z.string().refine(isValidTrustDomain, 'expected a SPIFFE trust domain: lower-case letters, digits, . - _');
const httpUrl = z.string().regex(/^https?:\/\/[^\s/]+$/, 'expected http(s)://host:port');

export const identitySchema = z.object({
  /** Where the agent's certificate comes from. `files` is also selected by --cert/--key/--ca. */
  source: z.enum(['local-ca', 'coordinator', 'consul', 'files']).default('local-ca'),
  trust_domain: trustDomain.default('aim.local'),
  namespace: segment.default('default'),
  datacenter: segment.default('dc1'),
  /** local-ca: the CA directory (`aim-mesh ca init --dir`). */
  ca_dir: z.string().min(1).default('certs'),
  /** local-ca: leaf lifetime (ms or "24h", "5s"; at least 1 s). */
  leaf_ttl: duration.refine((ms) => ms >= 1000, 'leaf_ttl must be at least 1s').default(86_400_000),
  /** local-ca: leaf key type (ECDSA P-256 handshakes are cheaper: bench/identity-handshake.ts). */
  key_type: z.enum(['ecdsa-p256', 'rsa-2048']).default('ecdsa-p256'),
  /** Renew at this fraction of a leaf's lifetime. */
  renew_fraction: z.number().gt(0).lt(1).default(0.7),
  /** files: PEM leaf (+ intermediates), PEM key, PEM trust bundle. */
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  ca_file: z.string().min(1).optional(),
  /** consul: connection; address/token left unset fall back to the agent's Consul settings. */
  consul: z.object({
    address: httpUrl.optional(),
    token: z.string().optional(),
    /** Blocking-query wait. */
    wait: duration.default(300_000),
  }).strict().default({ wait: 300_000 }),
  /** coordinator: owned by the coordinator source's own options (passed through unchanged). */
  coordinator: z.looseObject({}).optional(),
}).strict().superRefine((v, ctx) => {
  if (v.source === 'files') {
    for (const k of ['cert_file', 'key_file', 'ca_file'] as const) {
      if (v[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: `identity.source "files" needs ${k}` });
    }
  }
});

const headerMatch = z.object({
  name: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name'),
  exact: z.string().optional(),
  prefix: z.string().optional(),
  suffix: z.string().optional(),
  present: z.boolean().optional(),
  invert: z.boolean().optional(),
}).strict().refine(
  (h) => [h.exact, h.prefix, h.suffix, h.present].filter((x) => x !== undefined).length <= 1,
  'use at most one of exact, prefix, suffix, present',
);

const authzRule = z.object({
  /** Shown in /explain and the access log. */
  name: z.string().min(1).max(64).optional(),
  /** Source service name, or "*" for any authenticated service. */
  source: z.union([z.literal('*'), segment]),
  namespace: segment.optional(),
  action: z.enum(['allow', 'deny']),
  http: z.object({
    path_prefix: z.string().startsWith('/').optional(),
    methods: z.array(z.string().regex(/^[A-Za-z]+$/, 'expected an HTTP method').transform((m) => m.toUpperCase())).min(1).optional(),
    headers: z.array(headerMatch).min(1).optional(),
  }).strict().optional(),
}).strict();

export const authzSchema = z.object({
  /** Where intentions come from: these rules (`config`) or the local Consul agent (`consul`: connect/authorize, cached). */
  source: z.enum(['config', 'consul']).default('config'),
  consul: z.object({
    /** How long one caller's answer is reused. */
    cache_ttl: duration.default(10_000),
    /** With no answer from Consul and nothing cached: refuse (default) or let in. */
    on_error: z.enum(['deny', 'allow']).default('deny'),
  }).strict().prefault({}),
  /** Decision when no rule applies. */
  default: z.enum(['allow', 'deny']).default('allow'),
  /** Exact-source rules are checked before "*" rules; otherwise in this order. */
  rules: z.array(authzRule).default([]),
}).strict();

export type IdentityOptions = z.infer<typeof identitySchema>;
export type AuthzOptions = z.infer<typeof authzSchema>;

export const identityDefaults: IdentityOptions = identitySchema.parse({});
export const authzDefaults: AuthzOptions = authzSchema.parse({});
