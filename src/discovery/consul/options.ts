/**
 * The `consul:` config section: where the local Consul agent is, how to
 * authenticate, how discovery queries it, and how the agent registers and
 * reports health. One zod schema (mounted by config/schema.ts), defaults in
 * one place, validated once.
 *
 *   consul:
 *     address: 127.0.0.1:8500        # or http(s)://host:port
 *     token_file: /etc/aim-mesh/consul-token
 *     health_endpoint: connect       # connect (sidecars) | service (plain services)
 *     fail_open: false               # see "Fail-open policy" below
 *     services:
 *       db: { tags: [primary], datacenter: dc2 }
 *     check: { interval: 10s, ttl: 30s, deregister_critical_after: 1m, probe: { kind: http, path: /health } }
 *
 * Fail-open policy (`fail_open`, per service too):
 * - false (default): discovery asks Consul for passing instances only
 *   (`?passing`: any check not exactly `passing`, warning included, excludes an
 *   instance). If Consul says none is passing, the set is empty and requests
 *   fail fast with `no_endpoints`: a critical instance is never used.
 * - true: discovery reads every instance with its checks. Passing instances
 *   are used while there is at least one; when ALL instances are warning or
 *   critical, all of them are used (Envoy's "panic mode"), with their health
 *   in EndpointSpec.health, because trying a maybe-broken instance beats
 *   failing every request. A service with no instances at all still yields an
 *   empty set.
 * Either way, Consul being unreachable or answering garbage never changes the
 * set (static stability): the last good set is kept and reported stale.
 */
import { z } from 'zod';
import { duration } from '../../config/duration.ts';

const serviceName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, 'expected a service name: letters, digits, _ . - (max 63)');

export const consulServiceOverrideSchema = z.object({
  /** Only instances carrying ALL these tags. */
  tags: z.array(z.string()).optional(),
  datacenter: z.string().min(1).optional(),
  health_endpoint: z.enum(['connect', 'service']).optional(),
  fail_open: z.boolean().optional(),
}).strict();

export const probeSchema = z.object({
  /** How the agent probes its local app to keep the TTL check current. */
  kind: z.enum(['http', 'tcp', 'grpc', 'none']).default('tcp'),
  /** HTTP path (kind: http). */
  path: z.string().startsWith('/').default('/health'),
  /** gRPC health service name (kind: grpc; '' = the whole server). */
  grpc_service: z.string().default(''),
  timeout: duration.default(2_000),
}).strict();

const PROBE_DEFAULTS = { kind: 'tcp' as const, path: '/health', grpc_service: '', timeout: 2_000 };

export const checkSchema = z.object({
  /** How often the probe runs and the TTL checks are refreshed. */
  interval: duration.default(10_000),
  /** TTL of the checks in Consul; must exceed the interval. */
  ttl: duration.default(30_000),
  /** Consul removes the service when a check stays critical this long (Consul's minimum is 1m). */
  deregister_critical_after: duration.default(60_000),
  probe: probeSchema.default(PROBE_DEFAULTS),
}).strict().superRefine((c, ctx) => {
  if (c.interval <= 0) ctx.addIssue({ code: 'custom', path: ['interval'], message: 'must be > 0' });
  if (c.ttl <= c.interval) ctx.addIssue({ code: 'custom', path: ['ttl'], message: `must be greater than check.interval (${c.interval}ms), or the check flaps between updates` });
  if (c.probe.timeout >= c.interval) ctx.addIssue({ code: 'custom', path: ['probe', 'timeout'], message: 'must be shorter than check.interval' });
});

export const discoveryTuningSchema = z.object({
  /** Minimum time between two queries for one service (bounds the query rate under constant change). */
  min_query_interval: duration.default(500),
  /** An instance that left the healthy set comes back only after staying healthy this long (0 = off). */
  flap_holddown: duration.default(2_000),
  /** Error backoff: exponential with jitter between these. */
  backoff_initial: duration.default(1_000),
  backoff_max: duration.default(30_000),
}).strict();

const TUNING_DEFAULTS = { min_query_interval: 500, flap_holddown: 2_000, backoff_initial: 1_000, backoff_max: 30_000 };

export const consulSectionSchema = z.object({
  /** The local Consul agent: HOST:PORT or http(s)://HOST:PORT. */
  address: z.string().min(1).default('127.0.0.1:8500'),
  /** Used when `address` has no scheme. */
  scheme: z.enum(['http', 'https']).default('http'),
  /** PEM CA bundle to verify an https Consul agent. */
  ca_file: z.string().optional(),
  /** ACL token, in order of precedence: token, token_file, then the environment variable named by token_env. */
  token: z.string().min(1).optional(),
  token_file: z.string().min(1).optional(),
  token_env: z.string().min(1).default('CONSUL_HTTP_TOKEN'),
  /** Default datacenter for discovery (default: the agent's own). */
  datacenter: z.string().min(1).optional(),
  /** Blocking-query wait (Consul caps it at 10m and adds up to wait/16). */
  wait: duration.default(300_000),
  /** health/connect (Connect sidecars, the default) or health/service (services without sidecars). */
  health_endpoint: z.enum(['connect', 'service']).default('connect'),
  /** Default tag filter for discovery: only instances with ALL these tags. */
  tags: z.array(z.string()).default([]),
  /** See the fail-open policy above. */
  fail_open: z.boolean().default(false),
  /** Per-upstream overrides of tags, datacenter, health_endpoint and fail_open. */
  services: z.record(serviceName, consulServiceOverrideSchema).default({}),
  discovery: discoveryTuningSchema.default(TUNING_DEFAULTS),
  /** Register the app service and the sidecar (false: discovery only). */
  register: z.boolean().default(true),
  /** Weight of an instance whose checks are in warning (Consul Weights.Warning); the passing weight is service.weight. */
  warning_weight: z.number().int().min(0).default(1),
  check: checkSchema.default({ interval: 10_000, ttl: 30_000, deregister_critical_after: 60_000, probe: PROBE_DEFAULTS }),
  /** Deregister on graceful shutdown, before the listeners close. */
  deregister_on_shutdown: z.boolean().default(true),
}).strict().superRefine((c, ctx) => {
  if (c.wait < 1_000 || c.wait > 600_000) ctx.addIssue({ code: 'custom', path: ['wait'], message: 'must be between 1s and 10m (Consul caps blocking waits at 10m)' });
  if (!/^(https?:\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/\s[\]]+):\d{1,5}\/?$/.test(c.address)) {
    ctx.addIssue({ code: 'custom', path: ['address'], message: 'expected HOST:PORT or http(s)://HOST:PORT, e.g. "127.0.0.1:8500"' });
  }
  if (c.discovery.backoff_max < c.discovery.backoff_initial) ctx.addIssue({ code: 'custom', path: ['discovery', 'backoff_max'], message: 'must be >= backoff_initial' });
});

export type ConsulSection = z.infer<typeof consulSectionSchema>;
export type ConsulSectionInput = z.input<typeof consulSectionSchema>;
export type ProbeOptions = z.infer<typeof probeSchema>;
export type CheckOptions = z.infer<typeof checkSchema>;

/** The defaults, parsed (for tests and `check-config`). */
export const consulDefaults: ConsulSection = consulSectionSchema.parse({});

/** Base URL of the Consul agent, e.g. http://127.0.0.1:8500 (no trailing slash). */
export function consulBaseUrl(c: Pick<ConsulSection, 'address' | 'scheme'>): string {
  const a = c.address.replace(/\/$/, '');
  return /^https?:\/\//.test(a) ? a : `${c.scheme}://${a}`;
}

/** What one watched service is asked for, after overrides. */
export interface ServiceQuery {
  readonly service: string;
  readonly endpoint: 'connect' | 'service';
  readonly tags: readonly string[];
  readonly datacenter: string | undefined;
  readonly failOpen: boolean;
}

export function serviceQuery(c: ConsulSection, service: string): ServiceQuery {
  const o = c.services[service] ?? {};
  return {
    service,
    endpoint: o.health_endpoint ?? c.health_endpoint,
    tags: o.tags ?? c.tags,
    datacenter: o.datacenter ?? c.datacenter,
    failOpen: o.fail_open ?? c.fail_open,
  };
}
