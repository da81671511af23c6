/**
 * Transparent mode's outbound capture listener (agent --transparent).
 *
 * redirect-traffic's iptables rules REDIRECT the app's outbound TCP to
 * `transparent.outbound_port`. For each accepted socket this file recovers
 * the original destination (SO_ORIGINAL_DST, transparent/original-dst.ts),
 * maps it to a mesh service (transparent/capture.ts, with an index rebuilt on
 * every registry update), and then:
 *
 *   mesh service  → that service's capture clusters (capture-clusters.ts:
 *                   created lazily, fed from discovery, dialled with the
 *                   agent-to-agent dialers the explicit upstreams use), served
 *                   by protocol detection: HTTP/1 through Http1Connection,
 *                   HTTP/2 (h2c, gRPC) through the HTTP/2 handler (each
 *                   stream balanced, retried and counted), everything else
 *                   (opaque TCP, the app's own TLS) forwarded as bytes.
 *                   Opaque ports (detect.opaque_ports, matched on the original
 *                   destination port) skip detection: server-speaks-first
 *                   protocols.
 *   not mesh      → an HTTP/1 request whose Host names a service still goes to
 *                   it; otherwise the policy (capture-policy.ts): passthrough
 *                   (dial the original destination, pipe) or block (close,
 *                   log the reason).
 *
 * Loops: the agent's own connections are excluded by the rules' owner match
 * (run the agent as redirect-traffic's --proxy-uid). If that is wrong, HTTP
 * loops end at max_hops with 508 loop_detected (x-aim-mesh-hops), and every
 * other route is stopped by the loop guard (transparent/loop-guard.ts), which
 * recognises a captured socket as one this capture dialled itself, and the
 * log line says what to fix.
 *
 * Overload, as on the explicit listeners: while the overload manager says
 * overloaded, HTTP/1 requests get 503 `overloaded` and opaque connections
 * (mesh TCP, passthrough) are closed at once; HTTP/1 responses have the
 * slow-reader send guard (limits.write_idle, limits.min_send_rate).
 *
 * Observable: `transparent_capture_total{result}` (mesh | passthrough |
 * passthrough_failed | blocked | no_original_dst | loop), log lines, and
 * `explain()`. Per connection the extra cost is one getsockopt (2-4 µs, see
 * transparent/README.md) and a few Map lookups.
 */
import type { Socket } from 'node:net';
import type { AgentConfig } from '../config/schema.ts';
import type { Resolver } from '../discovery/types.ts';
import type { Cluster } from '../proxy/cluster.ts';
import { Http1Connection, type Http1Options } from '../proxy/http1/connection.ts';
import type { SendGuardLimits } from '../proxy/http1/send-guard.ts';
import { forwardTcp } from '../proxy/tcp/forward.ts';
import { Listener, type Connection } from '../listeners/listener.ts';
import { detectMetrics, detectProtocol, serveByProtocol, type DetectOptions, type PortProtocol } from '../listeners/detect.ts';
import type { MeshMetrics } from '../telemetry/metrics.ts';
import type { Logger } from '../telemetry/log.ts';
import { assertOriginalDstAvailable, originalDst, type OriginalDst } from '../transparent/original-dst.ts';
import { resolveCaptured, type CaptureDecision } from '../transparent/capture.ts';
import { feedCaptureIndex, type CatalogFeed } from '../transparent/index-feed.ts';
import type { ConsulClient } from '../discovery/consul/client.ts';
import type { ConsulCatalogFeed } from '../transparent/consul-catalog-feed.ts';
import { LoopGuard, type Guarded } from '../transparent/loop-guard.ts';
import { readHost } from '../transparent/host-peek.ts';
import { CaptureStats } from '../transparent/capture-stats.ts';
import { CaptureClusters, type CaptureClusterWiring } from './capture-clusters.ts';
import { capturePolicy, hostPort } from './capture-policy.ts';
import { Deferred, tcpConnection } from './pending-connection.ts';

/** What the capture needs from the agent (Agent satisfies it). */
export interface CaptureHost {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly metrics: MeshMetrics;
  readonly resolver: Resolver | undefined;
  /** Consul's client, when discovery is Consul: the capture index then maps the whole catalog. */
  readonly consul?: { readonly client: ConsulClient } | undefined;
}

/** The explicit listeners' wiring, shared: dialers, filter stacks, overload manager, send guard. */
export interface CaptureWiring extends CaptureClusterWiring {
  readonly draining: () => boolean;
  /** The agent's overload manager (listeners/overload.ts). */
  readonly overload?: Http1Options['overload'] & { shedConnection(): void };
  /** Slow-reader limits for HTTP/1 responses (limits.write_idle, limits.min_send_rate). */
  readonly sendGuard?: SendGuardLimits;
}

export interface Capture {
  readonly listeners: Listener[];
  /** The lazily created clusters, by service (HTTP/1, HTTP/2 and opaque bytes use separate pools). */
  readonly clusters: ReadonlyMap<string, { readonly http: Cluster; readonly tcp: Cluster }>;
  /** For /explain: the policy, the index, the counts and the last non-mesh destinations. */
  explain(): Record<string, unknown>;
  /** Close the capture clusters' pools (after the listeners drained). */
  close(): void;
}

export async function startCapture(host: CaptureHost, w: CaptureWiring): Promise<Capture> {
  assertOriginalDstAvailable(); // before binding: a missing addon names the command that builds it
  const cfg = host.config;
  const t = cfg.transparent;
  const log = host.log.child({ component: 'transparent' });
  const resolver = host.resolver;
  if (resolver === undefined) throw new Error('transparent mode needs discovery (no resolver)');
  const stats = new CaptureStats(host.metrics.registry);

  // The index is rebuilt on every registry (or catalog, or watched-set) update; each connection reads the latest.
  // With Consul, a catalog-wide watch maps every mesh service (loaded only then: it costs memory).
  let catalog: ConsulCatalogFeed | undefined;
  if (cfg.discovery.kind === 'consul' && host.consul !== undefined) {
    const { consulCatalogFeed } = await import('../transparent/consul-catalog-feed.ts');
    catalog = consulCatalogFeed(host.consul.client, cfg.consul, { maxWatches: t.catalog_watches, signal: w.signal, log });
  }
  const indexFeed = feedCaptureIndex(resolver, cfg.upstreams.map((u) => u.name), t.policy, w.signal, log, catalog satisfies CatalogFeed | undefined);

  // === clusters, one set per service, created on first use ===
  const guard = new LoopGuard();
  const clusters = new CaptureClusters(cfg, w, resolver, guard, log);

  // === serving ===
  const limits = cfg.limits;
  const detect: Omit<DetectOptions, 'mode'> = { timeoutMs: cfg.detect.timeout, opaquePorts: new Set(cfg.detect.opaque_ports), metrics: detectMetrics(host.metrics.registry) };
  const name = 'transparent';
  // A service that is also an explicit upstream keeps its configured protocol; others are detected.
  const protocols = new Map<string, PortProtocol>(cfg.upstreams.map((u) => [u.name, u.protocol]));
  const http1 = (s: Socket, service: string): Connection => new Http1Connection(s, {
    direction: 'outbound', listener: name, cluster: clusters.get(service).http, filters: clusters.get(service).filters,
    headLimits: { maxHeadBytes: limits.max_header_bytes, maxHeaders: limits.max_headers, maxUrlBytes: limits.max_url_bytes },
    framingLimits: { maxChunkExtBytes: limits.max_chunk_ext_bytes, maxTrailerBytes: limits.max_trailer_bytes },
    timeouts: { headerMs: limits.header_timeout, keepAliveIdleMs: limits.keepalive_idle, streamIdleMs: limits.stream_idle },
    proto: 'http', generateRequestId: true, maxHops: cfg.max_hops, log, draining: w.draining,
    ...(w.overload === undefined ? {} : { overload: w.overload }), ...(w.sendGuard === undefined ? {} : { sendGuard: w.sendGuard }),
  } satisfies Http1Options, undefined);
  // While overloaded, an opaque connection (mesh TCP or passthrough) is closed at once, as on explicit TCP listeners.
  const shed = (s: Socket): Connection | undefined => {
    if (w.overload === undefined || !w.overload.overloaded) return undefined;
    w.overload.shedConnection();
    s.destroy();
    return tcpConnection(s);
  };
  const opaque = (s: Socket, service: string, od: OriginalDst, g: Guarded): Connection => {
    if (g.loop) return refuseLoop(s, od);
    const shedded = shed(s);
    if (shedded !== undefined) return shedded;
    g.kill = () => { refuseLoop(s, od); };
    const c = clusters.get(service);
    forwardTcp(s, { direction: 'outbound', listener: name, cluster: c.tcp, filters: c.filters, idleMs: limits.stream_idle, log }, undefined);
    return tcpConnection(s);
  };
  const refuseLoop = (s: Socket, od: OriginalDst): Connection => {
    stats.count('loop', hostPort(od), 'own_connection');
    log[stats.firstTime(`loop ${hostPort(od)}`) ? 'error' : 'debug']({ reason: 'loop_detected', destination: hostPort(od), uid: process.getuid?.() },
      'transparent: the agent captured its own connection; run the agent as the UID given to redirect-traffic --proxy-uid');
    s.destroy();
    return tcpConnection(s);
  };
  const serveService = (s: Socket, od: OriginalDst, service: string, g: Guarded, known?: 'http1'): Connection => {
    stats.count('mesh');
    host.metrics.connections('outbound', service).track(s);
    const serve = (): Connection => {
      if (known === 'http1') { const c = http1(s, service); s.resume(); return c; } // already detected: the socket is paused
      return serveByProtocol(s, protocols.get(service) ?? 'auto', {
        http1: (sock) => http1(sock, service), // no guard: a looping request ends at max_hops with 508 loop_detected
        // h2c / gRPC: each stream balanced, retried and counted (as bytes only when there is no h2 dialer).
        h2: (sock) => clusters.get(service).h2()?.handleSocket(sock, undefined) ?? opaque(sock, service, od, g),
        tcp: (sock) => opaque(sock, service, od, g),
      }, { ...detect, destinationPort: () => od.port });
    };
    const c = clusters.get(service);
    if (c.http.endpoints.synced) return serve();
    // A new cluster: wait for discovery (the client's bytes stay buffered), at most the connect timeout;
    // then serve anyway, which answers no_endpoints if discovery is still silent.
    const pending = new Deferred(s);
    let started = false;
    const go = (): void => { if (!started && !s.destroyed) { started = true; pending.adopt(serve()); } };
    c.waiting.push(go);
    setTimeout(go, c.connectMs).unref();
    return pending;
  };
  const applyPolicy = capturePolicy({ stats, log, guard, idleMs: limits.stream_idle, shed, refuseLoop });
  const serveMiss = (s: Socket, od: OriginalDst, d: CaptureDecision, g: Guarded): Connection => {
    // An HTTP/1 request may still name a service by Host (`api.service.consul`): read its head first.
    const pending = new Deferred(s);
    detectProtocol(s, { ...detect, mode: 'auto', destinationPort: () => od.port }, (p) => {
      if (p !== 'http1') { pending.adopt(applyPolicy(s, od, d, g, false)); return; }
      readHost(s, limits.max_header_bytes, limits.header_timeout, (h) => {
        const byHost = h === undefined ? d : resolveCaptured(od, h, indexFeed.current());
        if (byHost.kind !== 'service') { pending.adopt(applyPolicy(s, od, byHost, g, h !== undefined)); return; }
        log.debug({ destination: hostPort(od), host: h, service: byHost.service }, 'transparent: mapped by Host');
        pending.adopt(serveService(s, od, byHost.service, g, 'http1'));
      });
    });
    return pending;
  };

  const handle = (s: Socket): Connection | undefined => {
    let od: OriginalDst | undefined;
    try { od = originalDst(s); } catch (err) { log.error({ err: (err as Error).message }, 'transparent: original destination unavailable'); }
    if (od === undefined) {
      // Dialled directly, not redirected: proxying it would proxy to ourselves.
      stats.count('no_original_dst');
      log.warn({ remote: s.remoteAddress }, 'transparent: connection was not redirected by iptables (no original destination): refused');
      s.destroy();
      return undefined;
    }
    const g = guard.captured(s, od);
    const d = resolveCaptured(od, undefined, indexFeed.current());
    return d.kind === 'service' ? serveService(s, od, d.service, g) : serveMiss(s, od, d, g);
  };

  // Dual stack when the kernel has IPv6 (REDIRECT sends IPv4 to 127.0.0.1 and IPv6 to ::1), else IPv4 only.
  let listener = captureListener(host, w, '::', t.outbound_port, handle, log);
  try {
    await listener.listen();
  } catch (err) {
    if (!/EAFNOSUPPORT|EADDRNOTAVAIL/.test((err as Error).message)) throw err;
    listener = captureListener(host, w, '0.0.0.0', t.outbound_port, handle, log);
    await listener.listen();
  }
  log.info({ port: listener.port, bind: listener.o.bind.host, policy: t.policy, uid: process.getuid?.(), endpoints: indexFeed.current().endpoints.size },
    'transparent capture listening (the agent must run as redirect-traffic --proxy-uid)');
  return {
    listeners: [listener],
    clusters: clusters.map,
    explain: () => {
      const index = indexFeed.current();
      return {
        port: listener.port, policy: t.policy, counts: { ...stats.counts }, recent_non_mesh: [...stats.recent], conflicts: index.conflicts,
        index: { virtual_ips: index.vips.size, endpoints: index.endpoints.size, addresses: index.addresses.size, hosts: index.hosts.size },
        clusters: [...clusters.map.keys()],
        ...(catalog === undefined ? {} : { consul_catalog: catalog.status() }),
      };
    },
    close: () => clusters.close(),
  };
}

function captureListener(host: CaptureHost, w: CaptureWiring, bindHost: string, port: number, handle: (s: Socket) => Connection | undefined, log: Logger): Listener {
  return new Listener({ name: 'transparent', bind: { host: bindHost, port }, protocol: 'auto', maxConnections: host.config.limits.max_connections, log, handle,
    ...(w.overload === undefined ? {} : { overload: w.overload }) });
}
