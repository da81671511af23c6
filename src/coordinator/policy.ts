/**
 * The mesh policy the coordinator holds and pushes to agents: authorization
 * rules (intentions) and rate limits. Written by users as YAML/JSON in
 * snake_case (`--policy FILE`, `PUT /api/v1/policy`), validated once here into
 * the wire shape of mesh.proto's Policy message.
 */
import { z } from 'zod';
import type { WirePolicy } from '../proto/types.ts';

const name = z.string().regex(/^(\*|[A-Za-z0-9._-]{1,253})$/, 'a service name or "*"');

const schema = z.object({
  default_authz: z.enum(['allow', 'deny']).default('allow'),
  authz: z.array(z.object({
    source: name,
    destination: name,
    action: z.enum(['allow', 'deny']),
    path_prefixes: z.array(z.string().startsWith('/')).default([]),
    methods: z.array(z.string().regex(/^[A-Z]{1,20}$/, 'an upper-case HTTP method')).default([]),
  }).strict()).max(10_000).default([]),
  rate_limits: z.array(z.object({
    service: name,
    path_prefix: z.string().default(''),
    requests_per_second: z.number().positive(),
    burst: z.number().int().nonnegative().default(0),
  }).strict()).max(10_000).default([]),
}).strict();

export const emptyPolicy: WirePolicy = { defaultAuthz: 'allow', authz: [], rateLimits: [] };

/** Validate user input; throws a TypeError listing every problem with its key path. */
export function parsePolicy(input: unknown, origin = 'policy'): WirePolicy {
  const r = schema.safeParse(input ?? {});
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${origin}: ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new TypeError(`invalid policy:\n${lines.join('\n')}`);
  }
  const p = r.data;
  return {
    defaultAuthz: p.default_authz,
    authz: p.authz.map((a) => ({ source: a.source, destination: a.destination, action: a.action, pathPrefixes: a.path_prefixes, methods: a.methods })),
    rateLimits: p.rate_limits.map((l) => ({ service: l.service, pathPrefix: l.path_prefix, requestsPerSecond: l.requests_per_second, burst: l.burst })),
  };
}

/** Back to the user-facing snake_case form (GET /api/v1/policy). */
export function policyToJson(p: WirePolicy): unknown {
  return {
    default_authz: p.defaultAuthz,
    authz: p.authz.map((a) => ({ source: a.source, destination: a.destination, action: a.action, path_prefixes: a.pathPrefixes, methods: a.methods })),
    rate_limits: p.rateLimits.map((l) => ({ service: l.service, path_prefix: l.pathPrefix, requests_per_second: l.requestsPerSecond, burst: l.burst })),
  };
}
