/**
 * Attaching an HTTP/2 session pool to a cluster: same endpoints, balancer and
 * observers as the cluster's HTTP/1 socket pool, same connect and idle
 * timeouts; sessions to endpoints that leave discovery are closed gracefully.
 *
 * Between agents over mTLS, h2 rides TLS with ALPN `h2` only, so an agent
 * that cannot speak h2 fails the handshake instead of receiving frames it
 * cannot parse.
 */
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { Cluster } from '../cluster.ts';
import type { Dialer } from '../upstream/pool.ts';
import { tlsDialer } from '../upstream/dialers.ts';
import type { Logger } from '../../telemetry/log.ts';
import { H2SessionPool } from './session-pool.ts';

export function h2SessionsFor(cluster: Cluster, dialer: Dialer, log: Logger): H2SessionPool {
  const pool = new H2SessionPool(dialer, {
    connectTimeoutMs: cluster.pool.opts.connectTimeoutMs,
    idleTimeoutMs: cluster.pool.opts.idleTimeoutMs,
    log,
  });
  cluster.endpoints.onChange((c) => { for (const ep of c.removed) pool.closeEndpoint(ep.key); });
  return pool;
}

/** TLS to another agent, offering ALPN h2 only; `track` keeps TLS sessions for resumption. */
export function h2TlsDialer(optionsFor: (ep: Endpoint) => ConnectionOptions, track?: (s: TLSSocket, ep: Endpoint) => void): Dialer {
  return tlsDialer((ep) => ({ ...optionsFor(ep), ALPNProtocols: ['h2'] }), track);
}
