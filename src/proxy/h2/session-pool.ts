/**
 * Upstream HTTP/2 sessions per endpoint, multiplexed.
 *
 * Every stream (so every gRPC call) first picks its endpoint through the
 * cluster's balancer, then asks this pool for a session to that endpoint.
 * Normally that is one session per endpoint carrying every stream; a second
 * one is dialled only when all open ones are at the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS, so long-lived streams (gRPC watches)
 * never starve new calls in nghttp2's queue.
 *
 * Sessions are dialled with the injected `Dialer` (h2c to the local app, TLS
 * with ALPN h2 to another agent) and count as ready once the peer's first
 * SETTINGS frame arrived: that proves the peer speaks HTTP/2, so a peer that
 * does not is a clean `upstream_protocol_error` instead of a confusing reset.
 * A session that receives GOAWAY, errors or closes leaves the pool at once
 * (its open streams finish on it); the next stream uses or dials another.
 * An idle session (no open stream for `idleTimeoutMs`) is closed gracefully.
 */
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream, type ClientSessionRequestOptions, type OutgoingHttpHeaders, type Settings } from 'node:http2';
import type { Socket } from 'node:net';
import { ProxyError } from '../../core/errors.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';
import { isIdentityError } from '../../identity/tls-context.ts';
import type { Dialer } from '../upstream/pool.ts';
import type { Logger } from '../../telemetry/log.ts';

export interface H2PoolOptions {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** SETTINGS we send (enablePush is always false). */
  readonly settings?: Settings;
  /** Connection-level receive window, bytes (default 1 MiB). */
  readonly connectionWindowBytes?: number;
  readonly log: Logger;
}

export type H2AcquireCallback = (err: ProxyError | null, up: H2Upstream | null) => void;

/** One client session to one endpoint. */
export class H2Upstream {
  readonly key: string;
  readonly session: ClientHttp2Session;
  /** Streams open on this session now. */
  active = 0;
  ready = false;
  /** Out of the pool (GOAWAY, error, close, endpoint removed): no new streams. */
  retired = false;
  streamsTotal = 0;

  constructor(key: string, session: ClientHttp2Session) {
    this.key = key;
    this.session = session;
  }

  /** Usable for one more stream now. */
  get available(): boolean {
    const s = this.session;
    return this.ready && !this.retired && !s.closed && !s.destroyed && this.active < (s.remoteSettings.maxConcurrentStreams ?? 100);
  }

  /** Open a stream; the count drops when it closes. */
  request(headers: OutgoingHttpHeaders, opts: ClientSessionRequestOptions): ClientHttp2Stream {
    const s = this.session.request(headers, opts);
    this.active++;
    this.streamsTotal++;
    s.once('close', () => { this.active--; });
    return s;
  }
}

export class H2SessionPool {
  readonly dialer: Dialer;
  readonly opts: H2PoolOptions;
  /** Ready, not retired sessions per endpoint key. */
  #byKey = new Map<string, H2Upstream[]>();
  /** Callers waiting for the session being dialled to an endpoint (one dial at a time per endpoint). */
  #waiters = new Map<string, H2AcquireCallback[]>();
  #all = new Set<H2Upstream>();
  #closed = false;
  connectsTotal = 0;

  constructor(dialer: Dialer, opts: H2PoolOptions) {
    this.dialer = dialer;
    this.opts = opts;
  }

  /** Sessions open now (ready or connecting, in the pool or finishing their streams). */
  get open(): number { return this.#all.size; }

  acquire(ep: Endpoint, cb: H2AcquireCallback): void {
    if (this.#closed) { cb(new ProxyError('draining', 'upstream pool is closed'), null); return; }
    const list = this.#byKey.get(ep.key);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) if (list[i]!.available) { cb(null, list[i]!); return; }
    }
    const waiting = this.#waiters.get(ep.key);
    if (waiting !== undefined) { waiting.push(cb); return; }
    this.#waiters.set(ep.key, [cb]);
    this.#connect(ep);
  }

  /** Hand a freshly ready session to its waiters, up to its stream limit; the rest dial again. */
  #serveWaiters(ep: Endpoint, up: H2Upstream): void {
    const list = this.#waiters.get(ep.key);
    if (list === undefined) return;
    this.#waiters.delete(ep.key);
    // Callers open their stream synchronously, so `available` accounts for the ones served before.
    for (const cb of list) {
      if (up.available) cb(null, up);
      else this.acquire(ep, cb);
    }
  }

  #connect(ep: Endpoint): void {
    const key = ep.key;
    const tls = this.dialer.readyEvent === 'secureConnect';
    let socket: Socket;
    try {
      socket = this.dialer.dial(ep);
    } catch (err) {
      this.#settle(key, new ProxyError('upstream_connect_failed', `${key}: ${(err as Error).message}`, { cause: err }), null);
      return;
    }
    this.connectsTotal++;
    socket.setNoDelay(true); // frames are already batched by nghttp2: never wait for Nagle
    const session = h2connect(`${tls ? 'https' : 'http'}://${hostForUrl(ep.spec.address)}:${ep.spec.port}`, {
      createConnection: () => socket,
      settings: { ...this.opts.settings, enablePush: false },
    });
    const up = new H2Upstream(key, session);
    this.#all.add(up);
    let connected = false;
    const timer = setTimeout(() => {
      fail(new ProxyError('upstream_connect_timeout', `${key}: no HTTP/2 session within ${this.opts.connectTimeoutMs} ms`));
    }, this.opts.connectTimeoutMs);
    const fail = (err: ProxyError): void => {
      clearTimeout(timer);
      this.#retire(up);
      session.destroy();
      this.#settle(key, err, null);
    };
    socket.once(this.dialer.readyEvent, () => { connected = true; });
    // Dialled with allowHalfOpen (shared dialers): for HTTP/2 a FIN from the peer ends the session.
    socket.once('end', () => { this.#retire(up); session.destroy(); });
    session.once('connect', () => {
      if (tls && (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol !== 'h2') {
        fail(new ProxyError('upstream_protocol_error', `${key}: the peer did not negotiate h2 over TLS (ALPN)`));
      }
    });
    session.once('remoteSettings', () => {
      if (up.retired) return;
      clearTimeout(timer);
      up.ready = true;
      let list = this.#byKey.get(key);
      if (list === undefined) { list = []; this.#byKey.set(key, list); }
      list.push(up);
      try { session.setLocalWindowSize(this.opts.connectionWindowBytes ?? 1 << 20); } catch { /* smaller than now */ }
      this.#serveWaiters(ep, up);
    });
    session.on('error', (err: Error & { code?: string }) => {
      if (up.ready) { this.opts.log.debug({ endpoint: key, err: err.message }, 'upstream h2 session error'); return; }
      if (err instanceof ProxyError) { fail(err); return; }
      const identity = isIdentityError(err);
      const reason = identity ? 'upstream_tls_identity' : connected ? 'upstream_protocol_error' : 'upstream_connect_failed';
      const detail = connected && !identity ? `${key}: the peer did not answer with HTTP/2 (${err.message})` : `${key}: ${err.message}`;
      fail(new ProxyError(reason, detail, { cause: err }));
    });
    session.on('goaway', () => this.#retire(up));
    session.on('close', () => {
      clearTimeout(timer);
      this.#retire(up);
      this.#all.delete(up);
      if (!up.ready) this.#settle(key, new ProxyError(connected ? 'upstream_protocol_error' : 'upstream_connect_failed', `${key}: connection closed before the HTTP/2 session was ready`), null);
    });
    session.setTimeout(this.opts.idleTimeoutMs, () => {
      if (up.active === 0) { this.#retire(up); session.close(); }
    });
  }

  /** The dial failed: every waiter gets the error. */
  #settle(key: string, err: ProxyError, up: null): void {
    const list = this.#waiters.get(key);
    if (list === undefined) return;
    this.#waiters.delete(key);
    for (const cb of list) cb(err, up);
  }

  #retire(up: H2Upstream): void {
    up.retired = true;
    const list = this.#byKey.get(up.key);
    if (list === undefined) return;
    const i = list.indexOf(up);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.#byKey.delete(up.key);
  }

  /** Sessions to an endpoint that are ready for streams (for /clusters and tests). */
  sessionsTo(key: string): readonly H2Upstream[] {
    return this.#byKey.get(key) ?? [];
  }

  /** The endpoint left discovery: no new streams to it; open ones finish, then its sessions close. */
  closeEndpoint(key: string): void {
    for (const up of [...(this.#byKey.get(key) ?? [])]) {
      this.#retire(up);
      up.session.close();
    }
  }

  /** Graceful: GOAWAY every session; open streams finish. */
  close(): void {
    this.#closed = true;
    for (const up of this.#all) { this.#retire(up); if (!up.session.closed) up.session.close(); }
  }

  /** Hard stop (after a drain deadline). */
  destroy(): void {
    this.#closed = true;
    for (const up of this.#all) up.session.destroy();
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
