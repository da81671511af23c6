/**
 * The agent process: wiring only. Config in → clusters, filter stacks,
 * listeners, discovery feeds and the admin server out; then start, drain and
 * stop in the right order.
 *
 * Start order: discovery first (so upstream sets can sync), then listeners,
 * then the admin server (whose /ready reports what is still missing).
 * Shutdown order: /ready goes 503, listeners stop accepting, in-flight
 * requests finish up to drain_timeout, idle connections close, pools close.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { Endpoint } from '../balancer/endpoint.ts';
import type { AgentConfig } from '../config/schema.ts';
import { accessLogger, closeLogger, type Logger } from '../telemetry/log.ts';
import type { Filter } from '../core/filter.ts';
import type { Resolver } from '../discovery/types.ts';
import { StaticResolver } from '../discovery/static/resolver.ts';
import { Cluster } from '../proxy/cluster.ts';
import { Http1Connection, type Http1Options } from '../proxy/http1/connection.ts';
import { forwardTcp } from '../proxy/tcp/forward.ts';
import { tcpDialer, tlsDialer } from '../proxy/upstream/dialers.ts';
import { Listener } from '../listeners/listener.ts';
import { OverloadManager, v8HeapUsedFraction } from '../listeners/overload.ts';
import { detectMetrics, serveByProtocol, type DetectOptions, type PortProtocol } from '../listeners/detect.ts';
import { createH2Handler } from '../proxy/h2/server.ts';
import { h2SessionsFor, h2TlsDialer } from '../proxy/h2/cluster-sessions.ts';
import type { H2SessionPool } from '../proxy/h2/session-pool.ts';
import { createMetrics, type MeshMetrics } from '../telemetry/metrics.ts';
import { metricsFilter } from '../telemetry/metrics-filter.ts';
import { accessLogFilter } from '../telemetry/access-log.ts';
import { RecentRequests } from '../telemetry/recent-requests.ts';
import { resilienceStats } from '../telemetry/metric-sources.ts';
import { localAppCluster, upstreamCluster, feedFromDiscovery } from './clusters.ts';
import type { AgentTls } from './tls.ts';
import { startCapture, type Capture } from './capture.ts';
import { buildInboundFilters, type InboundFilters } from './inbound-filters.ts';
import { GoldenFilter } from './golden.ts';
import { ConsulAuthzFilter } from './consul-authz.ts';
import type { ConsulDiscovery, ConsulRegistration } from '../discovery/consul/index.ts';

export interface AgentDeps {
  readonly log: Logger;
  /** Discovery; default: the static registry named in config. */
  readonly resolver?: Resolver;
  /** mTLS between agents; undefined = plaintext (inbound.mtls must then be false). */
  readonly tls?: AgentTls;
  readonly metrics?: MeshMetrics;
}

export class Agent {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly metrics: MeshMetrics;
  readonly clusters = new Map<string, Cluster>();
  readonly listeners: Listener[] = [];
  readonly startedAt = Date.now();
  resolver: Resolver | undefined;
  inboundCluster: Cluster | undefined;
  // --- admin and telemetry hooks (issue 7) ---
  /** POST /healthcheck/fail sets it: /ready answers 503 (and the Consul TTL check should fail) until POST /healthcheck/ok. */
  healthcheckFailed = false;
  /** Recent requests for /explain?request_id=: an observer of every cluster and a filter of every stack (see #listener). */
  readonly recentRequests = new RecentRequests();
  /** Each listener's direction, cluster and filter stack, for /explain. */
  readonly stacks = new Map<string, { direction: 'inbound' | 'outbound'; cluster: Cluster; filters: Filter[] }>();
  /** The /certs document; the identity wiring sets it (e.g. `() => source.describe()`). */
  certsInfo: (() => object) | undefined;
  /** Transparent mode's outbound capture listener (issue 9), when transparent.enabled. */
  capture: Capture | undefined;
  #tls: AgentTls | undefined;
  /** Per-interval golden metrics per upstream (and 'inbound'), read by the coordinator reporter. */
  readonly golden = new Map<string, GoldenFilter>();
  /** Consul discovery and registration, when discovery.kind is consul. */
  consul: ConsulDiscovery | undefined;
  registration: ConsulRegistration | undefined;
  /** Inbound authorization and rate limits (read by /explain and the metrics). */
  inbound: InboundFilters | undefined;
  /** HTTP/2 session pools (one per cluster), closed on drain. */
  readonly h2Pools = new Map<string, H2SessionPool>();
  /** The overload manager (limits.overload): sheds new requests while the heap or the connection count is too high. */
  readonly overload: OverloadManager;
  #detect: Omit<DetectOptions, 'mode'> | undefined;
  #abort = new AbortController();
  #draining = false;
  #listening = false;
  #stopped: Promise<void> | undefined;

  constructor(config: AgentConfig, deps: AgentDeps) {
    this.config = config;
    this.log = deps.log;
    this.metrics = deps.metrics ?? createMetrics();
    this.resolver = deps.resolver;
    this.#tls = deps.tls;
    if (config.inbound.mtls && !deps.tls) throw new Error('inbound.mtls is on but no identity was provided');
    const ov = config.limits.overload;
    this.overload = new OverloadManager(
      { heapFraction: ov.heap_fraction, maxConnections: ov.max_active_connections, retryAfterMs: ov.retry_after, checkIntervalMs: ov.check_interval },
      { heapUsedFraction: v8HeapUsedFraction, connections: () => { let n = 0; for (const l of this.listeners) n += l.conns.size; return n; } },
      this.log.child({ component: 'overload' }));
  }

  get draining(): boolean { return this.#draining; }

  #onStop: Array<() => void> = [];
  /** One (batched) access logger for every listener; flushed when the agent stops. */
  #accessLog: Logger | undefined;
  #appReachable = false;

  /** --wait-for-app-port: probe the app's port until it accepts a connection (pod start-up ordering). */
  #probeApp(): void {
    const { host, port } = this.config.service.address;
    const attempt = (): void => {
      if (this.#draining) return;
      const s = netConnect({ host, port });
      s.once('connect', () => { s.destroy(); this.#appReachable = true; this.log.info({ app: `${host}:${port}` }, 'app port is accepting connections'); });
      s.once('error', () => { s.destroy(); setTimeout(attempt, 250).unref(); });
    };
    attempt();
  }
  /** Run `fn` when the agent drains (e.g. stop the coordinator reporter). */
  onStop(fn: () => void): void { this.#onStop.push(fn); }

  /** What /ready reports missing; empty when ready. */
  notReady(): string[] {
    const missing: string[] = [];
    if (!this.#listening) missing.push('listeners not bound');
    if (this.config.service.wait_for_app && !this.#appReachable) missing.push(`app port ${this.config.service.address.host}:${this.config.service.address.port} not accepting connections yet`);
    if (this.#draining) missing.push('draining');
    if (this.healthcheckFailed) missing.push('healthcheck failed (POST /healthcheck/ok clears it)');
    if (this.config.inbound.mtls && !this.#tls?.ready()) missing.push('identity not loaded');
    for (const c of this.clusters.values()) if (!c.endpoints.synced) missing.push(`discovery has not synced upstream ${c.name}`);
    return missing;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    const idleUp = 60_000;
    if ((this.resolver === undefined && cfg.discovery.kind === 'consul') || cfg.authz.source === 'consul') {
      // Consul: blocking-query discovery now; registration once the listeners know their ports.
      // Loaded only when used: the Consul client and its modules cost memory every agent would pay.
      const { createConsulDiscovery } = await import('../discovery/consul/index.ts');
      this.consul = createConsulDiscovery({ consul: cfg.consul, trustDomain: cfg.identity.trust_domain }, this.log);
      if (this.resolver === undefined && cfg.discovery.kind === 'consul') this.resolver = this.consul.resolver;
    }
    // Only the watched upstreams' sets are kept, unless transparent mode's address index needs every service.
    this.resolver ??= new StaticResolver({ file: cfg.discovery.registry, log: this.log.child({ component: 'discovery' }), keepRegistry: cfg.transparent.enabled });
    const draining = (): boolean => this.#draining;
    const limits = cfg.limits;
    const headLimits = { maxHeadBytes: limits.max_header_bytes, maxHeaders: limits.max_headers, maxUrlBytes: limits.max_url_bytes };
    const framingLimits = { maxChunkExtBytes: limits.max_chunk_ext_bytes, maxTrailerBytes: limits.max_trailer_bytes };
    const timeouts = { headerMs: limits.header_timeout, keepAliveIdleMs: limits.keepalive_idle, streamIdleMs: limits.stream_idle };
    const listenerLog = this.log.child({ component: 'proxy' });
    this.#detect = { timeoutMs: cfg.detect.timeout, opaquePorts: new Set(cfg.detect.opaque_ports), metrics: detectMetrics(this.metrics.registry) };
    const filtersFor = (direction: string, target: string): Filter[] => {
      // metrics first: it must see every outcome, including local replies from later filters.
      // metrics.enabled: false leaves it out (the bench's per-layer cost measures it that way).
      const f: Filter[] = cfg.metrics.enabled ? [metricsFilter(this.metrics, direction, target)] : [];
      // Golden metrics per edge for the coordinator (cheap: a counter and a bounded sample reservoir).
      const key = direction === 'inbound' ? 'inbound' : target;
      let g = this.golden.get(key);
      if (g === undefined) { g = new GoldenFilter(); this.golden.set(key, g); }
      f.push(g);
      // access log next: same reason, and it reads the final ctx in onDone.
      if (cfg.log.access_log.enabled) f.push(accessLogFilter(this.#accessLog ??= accessLogger(this.log), cfg.log.access_log.sample));
      // recent requests (admin /explain?request_id=): its onDone closes the record the cluster observer opened.
      f.push(this.recentRequests);
      return f;
    };

    // Outbound: one cluster and one local listener per upstream.
    // ALPN says which protocol a connection carries between agents: http/1.1 for the HTTP/1 path, h2 for HTTP/2, none for opaque TCP.
    const track = (s: TLSSocket, ep: Endpoint): void => this.#tls?.trackSession?.(s, ep);
    const agentDialer = this.#tls ? tlsDialer((ep) => ({ ...this.#tls!.clientOptions(ep), ALPNProtocols: ['http/1.1'] }), track) : tcpDialer();
    const tcpAgentDialer = this.#tls ? tlsDialer((ep) => withoutAlpn(this.#tls!.clientOptions(ep)), track) : tcpDialer();
    const h2AgentDialer = this.#tls ? h2TlsDialer((ep) => this.#tls!.clientOptions(ep), track) : tcpDialer();
    for (const u of cfg.upstreams) {
      const cluster = upstreamCluster(u, u.protocol === 'tcp' ? tcpAgentDialer : agentDialer, idleUp);
      this.clusters.set(u.name, cluster);
      if (u.protocol !== 'tcp') this.h2Pools.set(`outbound:${u.name}`, h2SessionsFor(cluster, h2AgentDialer, listenerLog));
      void feedFromDiscovery(cluster, this.resolver, this.#abort.signal, this.log.child({ component: 'discovery' }), u.identity);
      const resolver = this.resolver;
      this.metrics.sources.addDiscovery({ target: u.name, status: () => resolver.status(u.name) }); // discovery_staleness_seconds
      if (cluster.resilience) this.metrics.sources.addResilience(resilienceStats('outbound', u.name, cluster.resilience)); // retry_total, overflow_total, ...
      // Resilience filters after telemetry (which must see their local replies):
      // rate limit → concurrency limit → route (sets ctx.route: timeouts, retries, faults) → retry budget deposit.
      const filters = [...filtersFor('outbound', u.name), ...(cluster.resilience?.filters ?? [])];
      const name = `outbound:${u.name}`;
      this.listeners.push(this.#listener(name, u.listen, u.protocol, filters, cluster, 'outbound', 'http', true, headLimits, framingLimits, timeouts, listenerLog, draining, undefined));
    }

    // Inbound: the public port, forwarding to the local app.
    const app = localAppCluster(cfg.service.name, cfg.service.address, tcpDialer(), idleUp, 0);
    this.inboundCluster = app;
    // h2 streams reach the app as h2c (prior knowledge): the client's protocol is preserved.
    if (cfg.service.protocol !== 'tcp') this.h2Pools.set('inbound', h2SessionsFor(app, tcpDialer(), listenerLog));
    const consulAuthz = cfg.authz.source === 'consul' && this.consul !== undefined
      ? new ConsulAuthzFilter(this.consul.client, { target: cfg.service.name, cacheTtlMs: cfg.authz.consul.cache_ttl, onError: cfg.authz.consul.on_error }, this.log.child({ component: 'authz' }))
      : undefined;
    this.inbound = buildInboundFilters(cfg, consulAuthz);
    this.metrics.sources.setPeers(this.inbound.peers); // inbound_peer_requests_total{peer}
    const inboundLimit = this.inbound.rateLimit.filter;
    if (inboundLimit) this.metrics.sources.addResilience({ direction: 'inbound', target: cfg.service.name, rateLimited: () => inboundLimit.stats.limited }); // ratelimit_rejected_total
    const inFilters = [...filtersFor('inbound', cfg.service.name), ...this.inbound.filters];
    this.listeners.push(this.#listener('inbound', cfg.inbound.listen, cfg.service.protocol, inFilters, app, 'inbound',
      cfg.inbound.mtls ? 'https' : 'http', false, headLimits, framingLimits, timeouts, listenerLog, draining, cfg.inbound.mtls ? this.#tls : undefined));

    for (const l of this.listeners) await l.listen();
    this.overload.start();
    // Transparent mode (issue 9): the outbound capture listener, beside the explicit upstream listeners,
    // with the same agent-to-agent dialers and filter stacks; it binds its own port (dual stack when possible).
    if (cfg.transparent.enabled) {
      // Also the explicit listeners' overload manager and slow-reader send guard; h2c/gRPC is served per stream (h2 dialer).
      this.capture = await startCapture(this, { dialers: { http: agentDialer, tcp: tcpAgentDialer, h2: h2AgentDialer }, filtersFor, draining, signal: this.#abort.signal,
        overload: this.overload, sendGuard: { windowMs: cfg.limits.write_idle, minBytesPerSec: cfg.limits.min_send_rate },
        onCluster: (name, cluster, filters) => {
          this.stacks.set(name, { direction: 'outbound', cluster, filters });
          cluster.observers.push(this.recentRequests);
          // A captured service that is not also an explicit upstream gets the upstream metric sources too
          // (an explicit upstream's own sources stay: addResilience would replace them).
          if (!cfg.upstreams.some((u) => u.name === cluster.name)) {
            const resolver = this.resolver!;
            if (cluster.resilience) this.metrics.sources.addResilience(resilienceStats('outbound', cluster.name, cluster.resilience));
            if (!name.endsWith(':tcp')) this.metrics.sources.addDiscovery({ target: cluster.name, status: () => resolver.status(cluster.name) });
          }
        } });
      this.listeners.push(...this.capture.listeners);
    }
    this.#listening = true;
    if (cfg.service.wait_for_app) this.#probeApp();
    if (this.consul !== undefined && cfg.discovery.kind === 'consul') {
      const { registrationSpecFromConfig } = await import('../discovery/consul/index.ts');
      const inboundPort = this.listeners.find((l) => l.name === 'inbound')?.port ?? cfg.inbound.listen.port;
      const spec = registrationSpecFromConfig({
        ...cfg,
        inbound: { listen: { host: cfg.inbound.listen.host, port: inboundPort } },
        upstreams: cfg.upstreams.map((u) => ({ name: u.name, listen: { host: u.listen.host, port: this.listeners.find((l) => l.name === `outbound:${u.name}`)?.port ?? u.listen.port } })),
      });
      this.registration = this.consul.register(spec, () => (this.healthcheckFailed ? 'failed by the operator: admin POST /healthcheck/fail' : undefined));
      // A 403 here is fatal with a message naming the missing permission; transient errors are retried inside.
      await this.registration?.start();
    }
    this.log.info({ listeners: this.listeners.map((l) => ({ name: l.name, port: l.port })) }, 'agent listening');
  }

  #listener(name: string, bind: { host: string; port: number }, protocol: string, filters: Filter[], cluster: Cluster,
    direction: 'inbound' | 'outbound', proto: string, generateRequestId: boolean,
    headLimits: Http1Options['headLimits'], framingLimits: Http1Options['framingLimits'], timeouts: Http1Options['timeouts'],
    log: Logger, draining: () => boolean, tls: AgentTls | undefined): Listener {
    const httpOpts: Http1Options = { direction, listener: name, cluster, filters, headLimits, framingLimits, timeouts, proto,
      generateRequestId, maxHops: this.config.max_hops, log, draining, overload: this.overload,
      sendGuard: { windowMs: this.config.limits.write_idle, minBytesPerSec: this.config.limits.min_send_rate } };
    const tcpOpts = { direction, listener: name, cluster, filters, idleMs: this.config.limits.stream_idle, log };
    const limits = this.config.limits;
    const sessions = this.h2Pools.get(name);
    const h2 = sessions === undefined ? undefined : createH2Handler({ direction, listener: name, cluster, sessions, filters, proto, generateRequestId,
      maxHops: this.config.max_hops, maxUrlBytes: limits.max_url_bytes, streamIdleMs: limits.stream_idle, log,
      maxConcurrentStreams: limits.max_concurrent_streams, keepAliveIdleMs: limits.keepalive_idle,
      maxHeaderListBytes: limits.max_header_bytes, maxHeaders: limits.max_headers, overload: this.overload });
    // Opaque ports name the server's port: the app's port on the inbound side, the local port (or original destination) outbound.
    const detect = direction === 'inbound' ? { ...this.#detect!, destinationPort: () => this.config.service.address.port } : this.#detect!;
    // Admin /explain reads the stack; the recent-requests ring observes every attempt of the cluster.
    this.stacks.set(name, { direction, cluster, filters });
    if (!cluster.observers.includes(this.recentRequests)) cluster.observers.push(this.recentRequests);
    const conns = this.metrics.connections(direction, cluster.name); // tcp_* metrics
    return new Listener({
      name, bind, protocol, maxConnections: this.config.limits.max_connections, log, overload: this.overload,
      createServer: tls ? (onSocket) => tls.createServer(onSocket, log) : undefined,
      handle: (s: Socket) => {
        conns.track(s);
        const peer = tls ? tls.peerIdentity(s) : undefined;
        return serveByProtocol(s, protocol as PortProtocol, {
          http1: (sock) => new Http1Connection(sock, httpOpts, peer),
          h2: (sock) => h2 !== undefined ? h2.handleSocket(sock, peer) : new Http1Connection(sock, httpOpts, peer),
          tcp: (sock) => {
            forwardTcp(sock, tcpOpts, peer);
            return { idle: false, shutdown() { /* let it finish until the deadline */ }, destroy() { sock.destroy(); } };
          },
        }, detect);
      },
    });
  }

  /** Stop accepting and let in-flight requests finish (up to drain_timeout). */
  drain(): Promise<void> {
    this.#stopped ??= this.#drainAndStop();
    return this.#stopped;
  }

  async #drainAndStop(): Promise<void> {
    this.#draining = true;
    for (const fn of this.#onStop.splice(0)) fn();
    this.log.info({ drain_timeout_ms: this.config.drain_timeout }, 'draining');
    // Deregister first, so peers stop routing here before the listeners close.
    await this.registration?.stop().catch((err: Error) => this.log.warn({ err: err.message }, 'consul deregistration failed'));
    for (const l of this.listeners) l.drain();
    this.overload.stop();
    await Promise.all(this.listeners.map((l) => l.closed(this.config.drain_timeout)));
    this.#abort.abort();
    for (const c of this.clusters.values()) { c.pool.close(); await c.resilience?.close(); }
    await this.inbound?.rateLimit.close();
    for (const p of this.h2Pools.values()) p.close();
    this.inboundCluster?.pool.close();
    this.capture?.close(); // transparent mode's lazily created cluster pools
    await this.resolver?.close();
    await this.consul?.close();
    await this.#tls?.close();
    if (this.#accessLog !== undefined) closeLogger(this.#accessLog);
    this.log.info('agent stopped');
  }
}

/** tls.connect options with no ALPN offered (opaque TCP between agents). */
function withoutAlpn(o: ConnectionOptions): ConnectionOptions {
  const { ALPNProtocols: _drop, ...rest } = o;
  return rest;
}
