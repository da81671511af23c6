/**
 * The capture listener's clusters: one set per mesh service, created on the
 * first captured connection to it, fed from discovery like an explicit
 * upstream's, and dialled with the same agent-to-agent dialers (so mTLS and
 * the expected SPIFFE identity apply), each wrapped by the loop guard.
 *
 * Per service:
 *   http     the HTTP/1 path (ALPN http/1.1), with the upstream's resilience
 *            (routes, retries, budgets, limits, breakers);
 *   tcp      opaque bytes: its own pool (a pooled HTTP/1 connection is not a
 *            fresh byte stream) over the same endpoints and balancer;
 *   h2       HTTP/2 (h2c, gRPC): an HTTP/2 handler over an h2 session pool on
 *            the same endpoints, so each stream is balanced, retried and
 *            counted like on an explicit listener (created on first use);
 *   filters  the explicit upstream's stack: telemetry first, then the
 *            cluster's resilience filters (rate limit → concurrency limit →
 *            route → retry budget), in the order agent.ts gives them.
 * A service that is also a configured upstream uses that upstream's options;
 * others get the upstream defaults.
 */
import type { ProxyError } from '../core/errors.ts';
import type { AgentConfig, UpstreamConfig } from '../config/schema.ts';
import { upstreamSchema } from '../config/schema.ts';
import type { Filter } from '../core/filter.ts';
import type { Resolver } from '../discovery/types.ts';
import { Cluster } from '../proxy/cluster.ts';
import { ConnectionPool, type Dialer } from '../proxy/upstream/pool.ts';
import { createH2Handler, type H2Handler } from '../proxy/h2/server.ts';
import { h2SessionsFor } from '../proxy/h2/cluster-sessions.ts';
import type { H2SessionPool } from '../proxy/h2/session-pool.ts';
import type { Logger } from '../telemetry/log.ts';
import type { LoopGuard } from '../transparent/loop-guard.ts';
import { feedFromDiscovery, upstreamCluster } from './clusters.ts';

export interface CaptureClusterWiring {
  /** Agent-to-agent dialers: `http` (ALPN http/1.1), `tcp` (no ALPN), `h2` (ALPN h2); no `h2` = h2c is forwarded as bytes. */
  readonly dialers: { readonly http: Dialer; readonly tcp: Dialer; readonly h2?: Dialer };
  readonly filtersFor: (direction: 'outbound', target: string) => Filter[];
  readonly signal: AbortSignal;
  /** Called for each cluster created (the agent registers it for /explain and its observers). */
  readonly onCluster?: (name: string, cluster: Cluster, filters: Filter[]) => void;
  /** The agent's overload manager: captured h2c streams are shed with it too. */
  readonly overload?: { readonly overloaded: boolean; error(): ProxyError };
}

export interface ServiceClusters {
  readonly http: Cluster;
  readonly tcp: Cluster;
  readonly filters: Filter[];
  readonly connectMs: number;
  /** Connections waiting for discovery's first set. */
  readonly waiting: (() => void)[];
  /** The HTTP/2 handler, created on the first h2 connection; undefined without an h2 dialer. */
  h2(): H2Handler | undefined;
}

const LISTENER = 'transparent';
const IDLE_UP_MS = 60_000;

export class CaptureClusters {
  readonly #cfg: AgentConfig;
  readonly #w: CaptureClusterWiring;
  readonly #resolver: Resolver;
  readonly #guard: LoopGuard;
  readonly #log: Logger;
  readonly #by = new Map<string, ServiceClusters>();
  readonly #h2Pools: H2SessionPool[] = [];
  readonly #defaults: UpstreamConfig;

  constructor(cfg: AgentConfig, w: CaptureClusterWiring, resolver: Resolver, guard: LoopGuard, log: Logger) {
    this.#cfg = cfg;
    this.#w = w;
    this.#resolver = resolver;
    this.#guard = guard;
    this.#log = log;
    this.#defaults = upstreamSchema.parse({ name: 'transparent', listen: '127.0.0.1:1', protocol: 'auto' });
  }

  /** The services with clusters, for /explain. */
  get map(): ReadonlyMap<string, ServiceClusters> { return this.#by; }

  get(service: string): ServiceClusters {
    const known = this.#by.get(service);
    if (known !== undefined) return known;
    const w = this.#w;
    const u: UpstreamConfig = this.#cfg.upstreams.find((x) => x.name === service) ?? { ...this.#defaults, name: service };
    const http = upstreamCluster(u, this.#guard.wrap(w.dialers.http), IDLE_UP_MS);
    const tcp = new Cluster({ name: service, endpoints: http.endpoints, balancer: http.balancer, retry: http.retry, timeouts: http.timeouts,
      pool: new ConnectionPool(this.#guard.wrap(w.dialers.tcp), { connectTimeoutMs: u.timeouts.connect, idleTimeoutMs: IDLE_UP_MS, maxIdlePerEndpoint: 0 }) });
    const filters = [...w.filtersFor('outbound', service), ...(http.resilience?.filters ?? [])];
    let h2: H2Handler | undefined;
    const c: ServiceClusters = {
      http, tcp, filters, connectMs: u.timeouts.connect, waiting: [],
      h2: () => (h2 ??= this.#h2Handler(http, filters)),
    };
    // The first connections wait for discovery's first set (else they would find no endpoint).
    http.endpoints.onChange(() => { for (const go of c.waiting.splice(0)) go(); });
    this.#by.set(service, c);
    void feedFromDiscovery(http, this.#resolver, w.signal, this.#log);
    w.onCluster?.(`${LISTENER}:${service}`, http, filters);
    w.onCluster?.(`${LISTENER}:${service}:tcp`, tcp, filters);
    this.#log.info({ service }, 'transparent: cluster created');
    return c;
  }

  #h2Handler(cluster: Cluster, filters: Filter[]): H2Handler | undefined {
    const d = this.#w.dialers.h2;
    if (d === undefined) return undefined;
    const sessions = h2SessionsFor(cluster, this.#guard.wrap(d), this.#log);
    this.#h2Pools.push(sessions);
    const l = this.#cfg.limits;
    return createH2Handler({
      direction: 'outbound', listener: LISTENER, cluster, sessions, filters, proto: 'http', generateRequestId: true,
      maxHops: this.#cfg.max_hops, maxUrlBytes: l.max_url_bytes, streamIdleMs: l.stream_idle, log: this.#log,
      maxConcurrentStreams: l.max_concurrent_streams, keepAliveIdleMs: l.keepalive_idle,
      maxHeaderListBytes: l.max_header_bytes, maxHeaders: l.max_headers,
      ...(this.#w.overload === undefined ? {} : { overload: this.#w.overload }),
    });
  }

  /** Close the pools (after the listeners drained). */
  close(): void {
    for (const c of this.#by.values()) { c.http.pool.close(); c.tcp.pool.close(); }
    for (const p of this.#h2Pools) p.close();
  }
}
