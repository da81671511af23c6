/**
 * One listener type for both directions (Consul's connect/proxy/listener.go):
 * the differences are injected — how to accept (plain TCP, or TLS with the
 * service's mTLS context) and what to do with an accepted socket (the HTTP/1
 * hot path, or opaque TCP forwarding). A listener only accepts and adapts.
 *
 * Draining: stop accepting, close idle keep-alive connections, let active
 * exchanges finish (their responses carry `connection: close`), and after the
 * deadline destroy whatever is left.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket, Server as TlsServer } from 'node:tls';
import type { Logger } from '../telemetry/log.ts';
import type { HostPort } from '../config/address.ts';

export interface Connection {
  readonly idle: boolean;
  shutdown(): void;
  destroy(): void;
}

export interface ListenerOptions {
  readonly name: string;
  readonly bind: HostPort;
  /** 'http' | 'tcp' */
  readonly protocol: string;
  readonly maxConnections: number;
  readonly log: Logger;
  /** Build the server: a plain net.Server by default; a tls.Server for mTLS. */
  readonly createServer?: (onSocket: (s: Socket) => void) => Server | TlsServer;
  /** Adapt an accepted socket; returns the connection object to track (or undefined for fire-and-forget). */
  readonly handle: (s: Socket | TLSSocket) => Connection | undefined;
  /**
   * The overload manager (overload.ts). While overloaded, opaque TCP connections are closed at accept
   * (counted in `shed`); HTTP connections are accepted and each request is answered 503 by the codec.
   */
  readonly overload?: { readonly overloaded: boolean; shedConnection(): void };
}

export class Listener {
  readonly name: string;
  readonly o: ListenerOptions;
  readonly server: Server | TlsServer;
  readonly conns = new Set<Connection>();
  accepted = 0;
  refused = 0;
  /** Connections closed at accept by the overload manager. */
  shed = 0;
  draining = false;

  constructor(o: ListenerOptions) {
    this.name = o.name;
    this.o = o;
    const onSocket = (s: Socket): void => {
      this.accepted++;
      if (o.protocol === 'tcp' && o.overload !== undefined && o.overload.overloaded) {
        this.shed++;
        o.overload.shedConnection();
        s.destroy();
        return;
      }
      const c = o.handle(s);
      if (c === undefined) return;
      this.conns.add(c);
      s.once('close', () => this.conns.delete(c));
      if (this.draining) c.shutdown();
    };
    this.server = o.createServer ? o.createServer(onSocket) : createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
    this.server.maxConnections = o.maxConnections;
    this.server.on('drop', () => {
      this.refused++;
      o.log.warn({ listener: o.name, reason: 'overflow_connections', max: o.maxConnections }, 'connection refused: listener at max_connections');
    });
    this.server.on('error', (err) => o.log.error({ listener: o.name, err: err.message }, 'listener error'));
  }

  /** Bind; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onErr = (err: Error): void => reject(new Error(`listener ${this.name}: cannot bind ${this.o.bind.host}:${this.o.bind.port}: ${err.message}`));
      this.server.once('error', onErr);
      this.server.listen(this.o.bind.port, this.o.bind.host, () => {
        this.server.removeListener('error', onErr);
        const a = this.server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : this.o.bind.port);
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** Stop accepting; idle connections close now, busy ones after their exchange. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.server.close();
    for (const c of this.conns) c.shutdown();
  }

  /** Resolves when every tracked connection has closed, or at the deadline (then destroys the rest). */
  async closed(deadlineMs: number): Promise<void> {
    const end = Date.now() + deadlineMs;
    while (this.conns.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.conns) c.destroy();
  }
}
