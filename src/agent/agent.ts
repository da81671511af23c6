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
import type { Socket } from 'node:net';
import type { AgentConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/log.ts';
import type { Filter } from '../core/filter.ts';
import type { Resolver } from '../discovery/types.ts';
import { StaticResolver } from '../discovery/static/resolver.ts';
import { Cluster } from '../proxy/cluster.ts';
import { Http1Connection, type Http1Options } from '../proxy/http1/connection.ts';
import { forwardTcp } from '../proxy/tcp/forward.ts';
import { tcpDialer, tlsDialer } from '../proxy/upstream/dialers.ts';
import { Listener } from '../listeners/listener.ts';
import { createMetrics, type MeshMetrics } from '../telemetry/metrics.ts';
import { metricsFilter } from '../telemetry/metrics-filter.ts';
import { accessLogFilter } from '../telemetry/access-log.ts';
import { localAppCluster, upstreamCluster, feedFromDiscovery } from './clusters.ts';
import type { AgentTls } from './tls.ts';

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
  #tls: AgentTls | undefined;
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
  }

  get draining(): boolean { return this.#draining; }

  /** What /ready reports missing; empty when ready. */
  notReady(): string[] {
    const missing: string[] = [];
    if (!this.#listening) missing.push('listeners not bound');
    if (this.#draining) missing.push('draining');
    if (this.config.inbound.mtls && !this.#tls?.ready()) missing.push('identity not loaded');
    for (const c of this.clusters.values()) if (!c.endpoints.synced) missing.push(`discovery has not synced upstream ${c.name}`);
    return missing;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    const idleUp = 60_000;
    this.resolver ??= new StaticResolver({ file: cfg.discovery.registry, log: this.log.child({ component: 'discovery' }) });
    const draining = (): boolean => this.#draining;
    const limits = cfg.limits;
    const headLimits = { maxHeadBytes: limits.max_header_bytes, maxHeaders: limits.max_headers, maxUrlBytes: limits.max_url_bytes };
    const framingLimits = { maxChunkExtBytes: limits.max_chunk_ext_bytes, maxTrailerBytes: limits.max_trailer_bytes };
    const timeouts = { headerMs: limits.header_timeout, keepAliveIdleMs: limits.keepalive_idle, streamIdleMs: limits.stream_idle };
    const listenerLog = this.log.child({ component: 'proxy' });
    const filtersFor = (direction: string, target: string): Filter[] => {
      // metrics first: it must see every outcome, including local replies from later filters.
      const f: Filter[] = [metricsFilter(this.metrics, direction, target)];
      // access log next: same reason, and it reads the final ctx in onDone.
      if (cfg.log.access_log.enabled) f.push(accessLogFilter(this.log.child({ component: 'access' }), cfg.log.access_log.sample));
      return f;
    };

    // Outbound: one cluster and one local listener per upstream.
    const agentDialer = this.#tls ? tlsDialer((ep) => this.#tls!.clientOptions(ep)) : tcpDialer();
    for (const u of cfg.upstreams) {
      const cluster = upstreamCluster(u, agentDialer, idleUp);
      this.clusters.set(u.name, cluster);
      void feedFromDiscovery(cluster, this.resolver, this.#abort.signal, this.log.child({ component: 'discovery' }));
      const filters = filtersFor('outbound', u.name);
      const name = `outbound:${u.name}`;
      this.listeners.push(this.#listener(name, u.listen, u.protocol, filters, cluster, 'outbound', 'http', true, headLimits, framingLimits, timeouts, listenerLog, draining, undefined));
    }

    // Inbound: the public port, forwarding to the local app.
    const app = localAppCluster(cfg.service.name, cfg.service.address, tcpDialer(), idleUp, 0);
    this.inboundCluster = app;
    const inFilters = filtersFor('inbound', cfg.service.name);
    this.listeners.push(this.#listener('inbound', cfg.inbound.listen, cfg.service.protocol, inFilters, app, 'inbound',
      cfg.inbound.mtls ? 'https' : 'http', false, headLimits, framingLimits, timeouts, listenerLog, draining, cfg.inbound.mtls ? this.#tls : undefined));

    for (const l of this.listeners) await l.listen();
    this.#listening = true;
    this.log.info({ listeners: this.listeners.map((l) => ({ name: l.name, port: l.port })) }, 'agent listening');
  }

  #listener(name: string, bind: { host: string; port: number }, protocol: string, filters: Filter[], cluster: Cluster,
    direction: 'inbound' | 'outbound', proto: string, generateRequestId: boolean,
    headLimits: Http1Options['headLimits'], framingLimits: Http1Options['framingLimits'], timeouts: Http1Options['timeouts'],
    log: Logger, draining: () => boolean, tls: AgentTls | undefined): Listener {
    const httpOpts: Http1Options = { direction, listener: name, cluster, filters, headLimits, framingLimits, timeouts, proto,
      generateRequestId, maxHops: this.config.max_hops, log, draining };
    const tcpOpts = { direction, listener: name, cluster, filters, idleMs: this.config.limits.stream_idle, log };
    const m = this.metrics;
    const open = m.tcpOpenTotal.labels(direction, cluster.name);
    const closed = m.tcpCloseTotal.labels(direction, cluster.name);
    const gauge = m.tcpOpenConnections.labels(direction, cluster.name);
    return new Listener({
      name, bind, protocol, maxConnections: this.config.limits.max_connections, log,
      createServer: tls ? (onSocket) => tls.createServer(onSocket, log) : undefined,
      handle: (s: Socket) => {
        open.inc(); gauge.inc();
        s.once('close', () => { closed.inc(); gauge.dec(); });
        const peer = tls ? tls.peerIdentity(s) : undefined;
        if (protocol === 'tcp') {
          forwardTcp(s, tcpOpts, peer);
          return { idle: false, shutdown() { /* let it finish until the deadline */ }, destroy() { s.destroy(); } };
        }
        return new Http1Connection(s, httpOpts, peer);
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
    this.log.info({ drain_timeout_ms: this.config.drain_timeout }, 'draining');
    for (const l of this.listeners) l.drain();
    await Promise.all(this.listeners.map((l) => l.closed(this.config.drain_timeout)));
    this.#abort.abort();
    for (const c of this.clusters.values()) c.pool.close();
    this.inboundCluster?.pool.close();
    await this.resolver?.close();
    await this.#tls?.close();
    this.log.info('agent stopped');
  }
}
