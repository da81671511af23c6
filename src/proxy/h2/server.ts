/**
 * The downstream side of HTTP/2: accepted sockets become server sessions,
 * and each stream becomes an `H2Exchange`.
 *
 * One `http2.Server` per listener, never bound to a port: the listener (or
 * protocol detection) hands it sockets with `handleSocket`, which works for
 * an h2c prior-knowledge socket (plaintext, possibly with peeked bytes put
 * back) and for a TLS socket whose ALPN selected h2 — Node's session reads
 * either. Settings: server push off, `maxConcurrentStreams` (default 100),
 * header list limits from `limits`.
 *
 * The returned `Connection` lets the listener drain: `shutdown()` sends
 * GOAWAY and lets open streams finish; a session with no open stream for
 * `keepAliveIdleMs` is closed.
 */
import { createServer, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Connection } from '../../listeners/listener.ts';
import { H2Exchange, type H2ForwardOptions } from './exchange.ts';

export interface H2HandlerOptions extends H2ForwardOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise (default 100). */
  readonly maxConcurrentStreams: number;
  /** Close a session with no open stream after this long. */
  readonly keepAliveIdleMs: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, bytes (limits.max_header_bytes). */
  readonly maxHeaderListBytes: number;
  /** Max header fields per block (limits.max_headers). */
  readonly maxHeaders: number;
  /** Per-stream receive window we advertise, bytes (default 64 KiB - 1, the protocol default). */
  readonly streamWindowBytes?: number;
  /** Connection receive window, bytes (default 1 MiB). */
  readonly connectionWindowBytes?: number;
}

export interface H2Handler {
  /** Adopt a socket that speaks HTTP/2 (h2c prior knowledge, or TLS with ALPN h2). */
  handleSocket(socket: Socket, peerIdentity: string | undefined): Connection;
  readonly server: Http2Server;
  /** Sessions open now. */
  readonly sessions: number;
  /** Streams proxied so far. */
  readonly streams: number;
}

/** One accepted HTTP/2 connection, as the listener tracks it. */
class H2ServerConnection implements Connection {
  readonly socket: Socket;
  readonly peerIdentity: string | undefined;
  readonly remoteAddress: string;
  session: ServerHttp2Session | undefined;
  active = 0;
  #shutdown = false;

  constructor(socket: Socket, peerIdentity: string | undefined) {
    this.socket = socket;
    this.peerIdentity = peerIdentity;
    this.remoteAddress = socket.remoteAddress ?? '';
  }

  get idle(): boolean { return this.active === 0; }

  shutdown(): void {
    if (this.#shutdown) return;
    this.#shutdown = true;
    const s = this.session;
    if (s === undefined) { this.socket.destroy(); return; }
    if (!s.closed) s.close(); // GOAWAY; open streams finish
  }

  destroy(): void {
    this.session?.destroy();
    this.socket.destroy();
  }
}

export function createH2Handler(o: H2HandlerOptions): H2Handler {
  const server = createServer({
    settings: {
      enablePush: false,
      maxConcurrentStreams: o.maxConcurrentStreams,
      maxHeaderListSize: o.maxHeaderListBytes,
      ...(o.streamWindowBytes !== undefined ? { initialWindowSize: o.streamWindowBytes } : {}),
    },
    maxHeaderListPairs: o.maxHeaders + 8, // + pseudo-headers
  });
  const bySession = new WeakMap<ServerHttp2Session, H2ServerConnection>();
  let adopting: H2ServerConnection | undefined;
  let sessions = 0;
  let streams = 0;

  server.on('session', (session: ServerHttp2Session) => {
    const conn = adopting;
    if (conn === undefined) { session.destroy(); return; }
    conn.session = session;
    bySession.set(session, conn);
    sessions++;
    session.on('error', (err: Error) => o.log.debug({ err: err.message, listener: o.listener }, 'downstream h2 session error'));
    session.once('close', () => { sessions--; });
    session.setTimeout(o.keepAliveIdleMs, () => { if (conn.active === 0) session.close(); });
    session.once('connect', () => {
      try { session.setLocalWindowSize(o.connectionWindowBytes ?? 1 << 20); } catch { /* smaller than current */ }
    });
  });

  server.on('stream', (stream: ServerHttp2Stream, _h: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const conn = bySession.get(stream.session as ServerHttp2Session);
    if (conn === undefined) { stream.close(); return; }
    streams++;
    conn.active++;
    stream.once('close', () => { conn.active--; });
    new H2Exchange(stream, o, conn.peerIdentity, conn.remoteAddress).start(rawHeaders);
  });

  return {
    server,
    get sessions() { return sessions; },
    get streams() { return streams; },
    handleSocket(socket: Socket, peerIdentity: string | undefined): Connection {
      const conn = new H2ServerConnection(socket, peerIdentity);
      socket.setNoDelay(true);
      // HTTP/2 has no use for a TCP half-close: the listener accepts with allowHalfOpen (for opaque
      // TCP), so a client's FIN must end the session here, or its streams would linger until drain.
      socket.once('end', () => conn.destroy());
      adopting = conn;
      try {
        server.emit('connection', socket);
      } finally {
        adopting = undefined;
      }
      return conn;
    },
  };
}
