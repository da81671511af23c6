/**
 * What the agent needs from the identity layer for mTLS between agents. The
 * identity area implements it (identity/tls-context.ts); the agent stays
 * ignorant of certificates.
 */
import type { Server, Socket } from 'node:net';
import type { ConnectionOptions, Server as TlsServer, TLSSocket } from 'node:tls';
import type { Endpoint } from '../balancer/endpoint.ts';
import type { Logger } from '../telemetry/log.ts';

export interface AgentTls {
  /** Is a usable identity loaded? */
  ready(): boolean;
  /** A TLS server for the public port; calls onSocket with verified sockets only. */
  createServer(onSocket: (s: Socket) => void, log: Logger): Server | TlsServer;
  /** The verified peer SPIFFE ID of an accepted socket. */
  peerIdentity(s: Socket): string | undefined;
  /** tls.connect options for an endpoint: client cert, roots, servername and the expected-identity check. */
  clientOptions(ep: Endpoint): ConnectionOptions;
  /** Remember the TLS sessions a connection to `ep` receives, so later dials resume (cheaper handshakes). */
  trackSession?(s: TLSSocket, ep: Endpoint): void;
  /** For the admin /certs endpoint. */
  describe?(): object;
  close(): Promise<void>;
}
