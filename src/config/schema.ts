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
import { rateLimitSchema, resilienceSchema } from '../resilience/options.ts';
import { authzSchema, identitySchema } from '../identity/options.ts';
import { consulSectionSchema } from '../discovery/consul/options.ts';
import { coordinatorReportSchema } from '../control/report-options.ts';

const serviceName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, 'expected a service name: letters, digits, _ . - (max 63)');
/**
 * What a port speaks. http: HTTP/1.x, or h2c by its preface; http2 | grpc: h2c
 * prior knowledge; tcp: opaque; auto: detected from the first bytes (HTTP/1,
 * h2c, else opaque TCP). Between agents the client's protocol is kept (ALPN).
 */
const protocol = z.enum(['http', 'tcp', 'auto', 'http2', 'grpc']);
const port = z.number().int().min(1).max(65535);

export const overloadSchema = z.object({
  /** Shed load while the V8 heap in use is at or above this fraction of the heap limit (0 = off). */
  heap_fraction: z.number().min(0).max(1).default(0.9),
  /** Shed load while more downstream connections than this are open across all listeners (0 = off). */
  max_active_connections: z.number().int().min(0).default(20_000),
  /** Retry-After on the 503 answers (rounded up to seconds). */
  retry_after: duration.default(5_000),
  /** How often the heap is sampled. */
  check_interval: duration.refine((ms) => ms > 0, 'must be more than 0').default(1_000),
}).strict();

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
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised to downstream clients. */
  max_concurrent_streams: z.number().int().min(1).max(10_000).default(100),
  /**
   * Slow readers (HTTP/1): while a response is backed up in our buffer, the client must take at least
   * max(1, min_send_rate × write_idle) bytes in every write_idle window, else the connection is reset
   * (nginx's send_timeout, plus a rate floor). write_idle 0 = off. Progress is seen at the kernel's
   * granularity (a socket turns writable when a third of its send buffer is free), so a window must be
   * long against send buffer / rate.
   */
  write_idle: duration.default(60_000),
  /** Bytes per second a backlogged client must read (see write_idle); 0 = any progress will do. */
  min_send_rate: z.number().int().min(0).default(0),
  /** The overload manager (src/listeners/overload.ts): 503 + Retry-After while a threshold is crossed. */
  overload: overloadSchema.prefault({}),
}).strict();

export const detectSchema = z.object({
  /** Wait this long for a client's first bytes on auto/http ports; then opaque TCP (auto) or HTTP/1 (http). */
  timeout: duration.default(10_000),
  /** Destination ports where the server speaks first: never peeked at on auto ports (opaque TCP at once). */
  opaque_ports: z.array(port).default([25, 587, 3306, 4444, 5432, 6379, 9300, 11211]),
}).strict();

/** Transparent interception (issue 9): the outbound capture listener that redirect-traffic's rules feed. */
export const transparentSchema = z.object({
  enabled: z.boolean().default(false),
  /** The capture port: redirect-traffic --proxy-outbound-port. */
  outbound_port: port.default(15001),
  /** Destinations that are not mesh services: passthrough (dial them directly, counted) or block (close, logged). */
  policy: z.enum(['passthrough', 'block']).default('passthrough'),
  /**
   * Consul discovery: how many services of the catalog get a blocking query of their own
   * (the rest are re-read when the catalog changes). Bounded because Consul limits
   * connections per client (http_max_conns_per_client, 200 by default).
   */
  catalog_watches: z.number().int().min(0).max(1000).default(32),
}).strict();

export const upstreamSchema = z.object({
  name: serviceName,
  /** The local port the app calls for this upstream. */
  listen: hostPort,
  protocol: protocol.default('http'),
  /** Expected SPIFFE ID of the upstream's agents (default: derived from the name). */
  identity: z.string().startsWith('spiffe://').optional(),
  // Load balancing, retries, timeouts, limits, breakers, outlier detection, rate limits, routes
  // and faults: one section per mechanism, defaults in src/resilience/options.ts.
  ...resilienceSchema.shape,
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
  /**
   * Per-request metrics: the metrics filter first in every stack (request_total, response_total,
   * response_latency_ms). Off drops that filter only; connection, resilience and process metrics stay.
   */
  metrics: z.object({ enabled: z.boolean().default(true) }).strict().default({ enabled: true }),
  service: z.object({
    name: serviceName,
    /** Where the local app listens. */
    address: hostPort,
    protocol: protocol.default('http'),
    tags: z.array(z.string()).default([]),
    meta: z.record(z.string(), z.string()).default({}),
    weight: z.number().int().min(1).default(1),
    /** Report not-ready (and so stay out of the load balancers) until the app's port accepts connections. */
    wait_for_app: z.boolean().default(false),
  }).strict(),
  inbound: z.object({
    /** The public port other agents call. */
    listen: hostPort.default({ host: '0.0.0.0', port: 20000 }),
    /** mTLS on the public port (off only for local experiments). */
    mtls: z.boolean().default(true),
    /** Inbound rate limits: global, and per caller (SPIFFE ID, else source address). */
    rate_limit: rateLimitSchema.prefault({}),
  }).strict().prefault({}),
  upstreams: z.array(upstreamSchema).default([]),
  discovery: z.object({
    kind: z.enum(['static', 'consul']).default('static'),
    registry: z.string().default('config/registry.yaml'),
  }).strict().default({ kind: 'static', registry: 'config/registry.yaml' }),
  /** The local Consul agent: address, ACL token, registration, health checks, discovery options. */
  consul: consulSectionSchema.prefault({}),
  /** Report to the coordinator (mesh view, directives); off when absent. */
  coordinator: coordinatorReportSchema.optional(),
  /** Where this agent's certificate comes from (local-ca | coordinator | consul | files); see src/identity/options.ts. */
  identity: identitySchema.prefault({}),
  /** Intentions: allow or deny callers by source service, with optional L7 conditions. */
  authz: authzSchema.prefault({}),
  admin: z.object({
    bind: hostPort.default({ host: '127.0.0.1', port: 19000 }),
    /** Required to bind beyond loopback, and for mutating routes from non-loopback callers. */
    token: z.string().optional(),
  }).strict().default({ bind: { host: '127.0.0.1', port: 19000 } }),
  limits: limitsSchema.default(limitsSchema.parse({})),
  /** Protocol detection on auto (and http) ports. */
  detect: detectSchema.default(detectSchema.parse({})),
  /** On SIGTERM: stop accepting, let in-flight requests finish up to this long. */
  drain_timeout: duration.default(30_000),
  /** Worker processes sharing the listeners (node:cluster); 1 = a single process. */
  workers: z.number().int().min(1).max(64).default(1),
  /** Refuse requests that crossed this many agents (loop prevention). */
  max_hops: z.number().int().min(1).max(64).default(8),
  /** Transparent mode (agent --transparent): capture redirected outbound TCP. */
  transparent: transparentSchema.default(transparentSchema.parse({})),
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
