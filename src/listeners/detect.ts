/**
 * Protocol detection: peek at the first bytes a client sends on an `auto`
 * (or `http`) port and decide how to serve the connection.
 *
 *   "GET " / "POST " / ... (an HTTP/1 method and a space)  → http1
 *   "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (the h2 preface)    → h2c
 *   0x16 0x03 (a TLS handshake record: ClientHello)        → tls
 *   anything else                                          → tcp (opaque)
 *
 * The peeked bytes are put back (`unshift`) and the socket is handed over
 * paused, so the chosen handler reads the stream from its first byte.
 *
 * Server-speaks-first protocols (MySQL, SMTP) send nothing until the server
 * greets: detection would wait for its timeout and then fall back to opaque
 * TCP. Ports marked opaque skip the wait entirely (Linkerd's opaque ports).
 * A client that closes before a decision is dropped.
 *
 * Observable: `protocol_detect_total{result}`, `protocol_detect_duration_ms{result}`
 * and `protocol_detect_timeout_total`, registered once per prom-client Registry.
 */
import type { Socket } from 'node:net';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Connection } from './listener.ts';

export type DetectedProtocol = 'http1' | 'h2c' | 'tls' | 'tcp';
export type DetectResult = DetectedProtocol | 'opaque_port' | 'closed';

/** Linkerd's default opaque ports: SMTP, MySQL, Galera, PostgreSQL, Redis, Elasticsearch, memcached. */
export const DEFAULT_OPAQUE_PORTS: readonly number[] = [25, 587, 3306, 4444, 5432, 6379, 9300, 11211];

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Methods recognised as HTTP/1 (RFC 9110, PATCH, WebDAV/CalDAV, and common extensions). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT', 'MKACTIVITY',
  'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PURGE', 'LINK', 'UNLINK',
  'MKCALENDAR', 'ACL', 'BIND', 'REBIND', 'UNBIND', 'SOURCE'].map((m) => Buffer.from(`${m} `, 'latin1'));

/** Longest prefix that can still be undecided. */
const MAX_PEEK = Math.max(H2_PREFACE.length, ...METHODS.map((m) => m.length));

/**
 * Classify the first bytes of a connection: a protocol, or undefined when
 * more bytes are needed to tell. Pure.
 */
export function classify(buf: Buffer): DetectedProtocol | undefined {
  const n = buf.length;
  if (n === 0) return undefined;
  if (buf[0] === 0x16) {
    if (n < 2) return undefined;
    return buf[1] === 0x03 ? 'tls' : 'tcp';
  }
  let undecided = false;
  const p = prefixMatch(buf, H2_PREFACE);
  if (p === 2) return 'h2c';
  if (p === 1) undecided = true;
  for (const m of METHODS) {
    const r = prefixMatch(buf, m);
    if (r === 2) return 'http1';
    if (r === 1) undecided = true;
  }
  return undecided && n < MAX_PEEK ? undefined : 'tcp';
}

/** 0: differs; 1: buf is a strict prefix of want; 2: buf starts with want. */
function prefixMatch(buf: Buffer, want: Buffer): 0 | 1 | 2 {
  const len = Math.min(buf.length, want.length);
  for (let i = 0; i < len; i++) if (buf[i] !== want[i]) return 0;
  return buf.length >= want.length ? 2 : 1;
}

export interface DetectMetrics {
  readonly total: Counter<'result'>;
  readonly duration: Histogram<'result'>;
  readonly timeouts: Counter;
}

/** The detection metrics of a registry (created on first use, shared by every listener). */
export function detectMetrics(registry: Registry): DetectMetrics {
  const existing = registry.getSingleMetric('protocol_detect_total') as Counter<'result'> | undefined;
  if (existing !== undefined) {
    return {
      total: existing,
      duration: registry.getSingleMetric('protocol_detect_duration_ms') as Histogram<'result'>,
      timeouts: registry.getSingleMetric('protocol_detect_timeout_total') as Counter,
    };
  }
  return {
    total: new Counter({ name: 'protocol_detect_total', help: 'Connections classified by protocol detection, by result (http1|h2c|tls|tcp|opaque_port|closed)', labelNames: ['result'], registers: [registry] }),
    duration: new Histogram({ name: 'protocol_detect_duration_ms', help: 'Time from accept to a detection decision, ms', labelNames: ['result'], buckets: [0.1, 0.5, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000], registers: [registry] }),
    timeouts: new Counter({ name: 'protocol_detect_timeout_total', help: 'Detections that timed out waiting for the client to speak (served as opaque TCP)', registers: [registry] }),
  };
}

export interface DetectOptions {
  /** Wait this long for the first bytes; then serve as opaque TCP (`auto`) or HTTP/1 (`http`). */
  readonly timeoutMs: number;
  /**
   * 'auto': every result is possible.
   * 'http': only http1 or h2c (anything else goes to the HTTP/1 parser, which answers 400).
   */
  readonly mode: 'auto' | 'http';
  /** Destination ports never peeked at (server speaks first): always opaque TCP in `auto` mode. */
  readonly opaquePorts: ReadonlySet<number>;
  readonly metrics: DetectMetrics;
  /** The connection's destination port (default: the local port; transparent capture passes the original destination). */
  readonly destinationPort?: (s: Socket) => number | undefined;
}

/**
 * Detect the protocol of a freshly accepted socket. `cb` runs once with the
 * socket paused and the peeked bytes put back; a socket that closes first is
 * destroyed and `cb` never runs.
 */
export function detectProtocol(socket: Socket, o: DetectOptions, cb: (p: DetectedProtocol) => void): void {
  const started = performance.now();
  const done = (result: DetectResult, p: DetectedProtocol | undefined): void => {
    o.metrics.total.inc({ result });
    o.metrics.duration.observe({ result }, performance.now() - started);
    if (p !== undefined) cb(p);
  };
  if (o.mode === 'auto' && o.opaquePorts.size > 0) {
    const port = o.destinationPort ? o.destinationPort(socket) : socket.localPort;
    if (port !== undefined && o.opaquePorts.has(port)) { socket.pause(); done('opaque_port', 'tcp'); return; }
  }
  let buf: Buffer | null = null;
  let settled = false;
  const cleanup = (): void => {
    settled = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onGone);
    socket.removeListener('close', onGone);
    socket.removeListener('error', onError);
  };
  const decide = (p: DetectedProtocol): void => {
    cleanup();
    socket.pause();
    if (buf !== null) socket.unshift(buf);
    const result = o.mode === 'http' && p !== 'h2c' ? 'http1' : p;
    done(result, result);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    const p = classify(buf);
    if (p !== undefined) decide(p);
  };
  const onGone = (): void => {
    if (settled) return;
    cleanup();
    socket.destroy();
    done('closed', undefined);
  };
  const onError = (): void => { /* 'close' follows */ };
  const timer = setTimeout(() => {
    if (settled) return;
    o.metrics.timeouts.inc();
    // Server speaks first (or a silent client): whatever arrived so far is opaque.
    decide(o.mode === 'http' ? 'http1' : 'tcp');
  }, o.timeoutMs);
  socket.on('data', onData);
  socket.once('end', onGone);
  socket.once('close', onGone);
  socket.on('error', onError);
}

// === serving a socket by its protocol ===

/** What a port (or the local app) speaks, as configured. */
export type PortProtocol = 'http' | 'http2' | 'grpc' | 'auto' | 'tcp';

/** How to serve a socket once its protocol is known. Each returns the connection the listener tracks. */
export interface ProtocolRoutes {
  http1(s: Socket): Connection;
  h2(s: Socket): Connection;
  tcp(s: Socket): Connection;
}

/**
 * Serve an accepted socket: TLS ALPN decides first (h2 or http/1.1, as
 * negotiated between agents); then the port's protocol — `tcp` opaque,
 * `http2`/`grpc` h2c prior knowledge, `http` HTTP/1 or h2c by the preface,
 * `auto` full detection (a TLS ClientHello or unknown bytes go to opaque TCP).
 */
export function serveByProtocol(s: Socket, protocol: PortProtocol, routes: ProtocolRoutes, detect: Omit<DetectOptions, 'mode'>): Connection {
  if (protocol === 'tcp') return routes.tcp(s);
  const alpn = (s as Socket & { alpnProtocol?: string | false }).alpnProtocol;
  if (alpn === 'h2') return routes.h2(s);
  if (alpn === 'http/1.1') return routes.http1(s);
  if (protocol === 'http2' || protocol === 'grpc') return routes.h2(s);
  const pending = new PendingConnection(s);
  detectProtocol(s, { ...detect, mode: protocol === 'auto' ? 'auto' : 'http' }, (p) => {
    if (p === 'http1') {
      pending.adopt(routes.http1(s));
      s.resume(); // handed over paused; the HTTP/1 codec reads with 'data'
    } else if (p === 'h2c') {
      pending.adopt(routes.h2(s));
    } else {
      pending.adopt(routes.tcp(s)); // tls passes through opaque: the agent does not terminate the app's own TLS
    }
  });
  return pending;
}

/** The listener's view of a connection whose protocol is still being detected. */
class PendingConnection implements Connection {
  readonly socket: Socket;
  #inner: Connection | undefined;
  #shutdown = false;

  constructor(socket: Socket) { this.socket = socket; }

  adopt(c: Connection): void {
    this.#inner = c;
    if (this.#shutdown) c.shutdown();
  }

  get idle(): boolean { return this.#inner === undefined ? false : this.#inner.idle; }

  /**
   * Draining. A plaintext client that has sent nothing yet is closed at once
   * (like an idle keep-alive connection); one whose first bytes are in is
   * served, then closed by the connection it was handed to.
   */
  shutdown(): void {
    this.#shutdown = true;
    if (this.#inner !== undefined) { this.#inner.shutdown(); return; }
    if (this.socket.bytesRead === 0 && (this.socket as Socket & { encrypted?: boolean }).encrypted !== true) this.socket.destroy();
  }

  destroy(): void {
    if (this.#inner !== undefined) this.#inner.destroy();
    else this.socket.destroy();
  }
}
