/**
 * The agent's configuration: one typed schema, with every default in this
 * file (sections owned by other areas — identity, consul, resilience — are
 * mounted here from their own `options.ts`). `config/agent.yaml` documents
 * every key; a test checks it parses to the defaults' shape.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { duration } from './duration.ts';
import { hostPort } from './address.ts';

const serviceName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, 'expected a service name: letters, digits, _ . - (max 63)');
const protocol = z.enum(['http', 'tcp']);

export const limitsSchema = z.object({
  /** Max bytes of a request or response head → 431 / 502. */
  max_header_bytes: z.number().int().min(1024).max(1 << 20).default(64 * 1024),
  /** Max header fields → 431. */
  max_headers: z.number().int().min(1).max(1000).default(100),
  /** Max request-target bytes → 414. */
  max_url_bytes: z.number().int().min(64).max(1 << 20).default(8 * 1024),
  max_chunk_ext_bytes: z.number().int().min(0).max(1 << 20).default(4096),
  max_trailer_bytes: z.number().int().min(0).max(1 << 20).default(16 * 1024),
  /** A request head must complete this soon after its first byte (slowloris) → 408. */
  header_timeout: duration.default(10_000),
  /** Close keep-alive connections idle between requests after this. */
  keepalive_idle: duration.default(60_000),
  /** Close a connection with no bytes either way during an exchange after this. */
  stream_idle: duration.default(300_000),
  /** Max downstream connections per listener; more are refused at accept. */
  max_connections: z.number().int().min(1).default(10_000),
}).strict();

export const upstreamSchema = z.object({
  name: serviceName,
  /** The local port the app calls for this upstream. */
  listen: hostPort,
  protocol: protocol.default('http'),
  /** Expected SPIFFE ID of the upstream's agents (default: derived from the name). */
  identity: z.string().startsWith('spiffe://').optional(),
  timeouts: z.object({
    connect: duration.default(5_000),
    /** Time to the response head, per attempt (0 = none). Bodies are bounded by limits.stream_idle. */
    request: duration.default(15_000),
  }).strict().default({ connect: 5_000, request: 15_000 }),
  retries: z.object({
    /** Total attempts including the first. */
    attempts: z.number().int().min(1).max(10).default(3),
  }).strict().default({ attempts: 3 }),
}).strict();

export const agentConfigSchema = z.object({
  node: z.string().default(hostname()),
  log: z.object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    access_log: z.object({
      enabled: z.boolean().default(false),
      /** Fraction of requests logged (errors are always logged). */
      sample: z.number().min(0).max(1).default(1),
    }).strict().default({ enabled: false, sample: 1 }),
  }).strict().default({ level: 'info', access_log: { enabled: false, sample: 1 } }),
  service: z.object({
    name: serviceName,
    /** Where the local app listens. */
    address: hostPort,
    protocol: protocol.default('http'),
    tags: z.array(z.string()).default([]),
    meta: z.record(z.string(), z.string()).default({}),
    weight: z.number().int().min(1).default(1),
  }).strict(),
  inbound: z.object({
    /** The public port other agents call. */
    listen: hostPort.default({ host: '0.0.0.0', port: 20000 }),
    /** mTLS on the public port (off only for local experiments). */
    mtls: z.boolean().default(true),
  }).strict().default({ listen: { host: '0.0.0.0', port: 20000 }, mtls: true }),
  upstreams: z.array(upstreamSchema).default([]),
  discovery: z.object({
    kind: z.enum(['static', 'consul']).default('static'),
    registry: z.string().default('config/registry.yaml'),
  }).strict().default({ kind: 'static', registry: 'config/registry.yaml' }),
  admin: z.object({
    bind: hostPort.default({ host: '127.0.0.1', port: 19000 }),
    /** Required to bind beyond loopback, and for mutating routes from non-loopback callers. */
    token: z.string().optional(),
  }).strict().default({ bind: { host: '127.0.0.1', port: 19000 } }),
  limits: limitsSchema.default(limitsSchema.parse({})),
  /** On SIGTERM: stop accepting, let in-flight requests finish up to this long. */
  drain_timeout: duration.default(30_000),
  /** Refuse requests that crossed this many agents (loop prevention). */
  max_hops: z.number().int().min(1).max(64).default(8),
}).strict().superRefine((c, ctx) => {
  const seen = new Map<string, number>();
  c.upstreams.forEach((u, i) => {
    const k = u.name;
    if (seen.has(k)) ctx.addIssue({ code: 'custom', path: ['upstreams', i, 'name'], message: `duplicate upstream name (also upstreams[${seen.get(k)}])` });
    seen.set(k, i);
  });
  if (c.admin.token === undefined && !isLoopback(c.admin.bind.host)) {
    ctx.addIssue({ code: 'custom', path: ['admin', 'bind'], message: 'binding the admin server beyond loopback requires admin.token' });
  }
});

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
