/**
 * Dialers for the connection pool: plain TCP (to the local app, or to
 * another agent when mTLS is off) and mTLS (agent to agent). The TLS options
 * come from the identity layer, built once per rotation — never per connect.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { Dialer } from './pool.ts';

export function tcpDialer(): Dialer {
  return {
    kind: 'tcp',
    readyEvent: 'connect',
    dial: (ep: Endpoint) => netConnect({ host: ep.spec.address, port: ep.spec.port, noDelay: true, allowHalfOpen: true }),
  };
}

/**
 * `optionsFor(ep)` returns complete tls.connect options for that endpoint (cert, key, ca,
 * servername, identity check); `track` lets the identity layer keep the session for resumption.
 */
export function tlsDialer(optionsFor: (ep: Endpoint) => ConnectionOptions, track?: (s: TLSSocket, ep: Endpoint) => void): Dialer {
  return {
    kind: 'tls',
    readyEvent: 'secureConnect',
    dial: (ep: Endpoint) => {
      const s = tlsConnect({ ...optionsFor(ep), host: ep.spec.address, port: ep.spec.port });
      track?.(s, ep);
      return s;
    },
  };
}
