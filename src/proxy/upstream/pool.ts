/**
 * Raw upstream connections, pooled per endpoint (keep-alive reuse).
 *
 * The pool knows nothing of HTTP: it dials with an injected `Dialer` (plain
 * TCP to the local app, mTLS to another agent), hands out idle sockets LIFO
 * (the warmest first), and watches idle ones: an idle socket that closes,
 * errors, times out or sends unexpected bytes is dropped. Acquisition is
 * callback-based so the common case (an idle socket is there) allocates no
 * promise.
 *
 * A socket lent with an `UpstreamOwner` keeps one set of listeners for its
 * whole life, installed at its first loan: they pass events to whoever holds
 * it now, or treat them as idle-socket events when nobody does. Per request
 * there is then no listener churn and no timer: idle expiry is one sweep per
 * pool (idle sockets close between idleTimeoutMs and 1.5 × idleTimeoutMs; 0 = never).
 */
import type { Socket } from 'node:net';
import { ProxyError } from '../../core/errors.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';

export interface Dialer {
  /** Start a connection; the pool waits for `readyEvent`. */
  dial(ep: Endpoint): Socket;
  /** 'connect' for plain TCP, 'secureConnect' for TLS. */
  readonly readyEvent: 'connect' | 'secureConnect';
  /** 'tls' | 'tcp', for logs and /listeners. */
  readonly kind: string;
}

export interface PoolOptions {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxIdlePerEndpoint: number;
  /** Circuit breaking as resource limits (Envoy): open connections and requests waiting for one. */
  readonly limits?: PoolLimits;
}

export interface PoolLimits {
  tryAcquire(kind: 'connections' | 'pending'): boolean;
  release(kind: 'connections' | 'pending'): void;
  overflowError(kind: 'connections' | 'pending'): ProxyError;
}

export type AcquireCallback = (err: ProxyError | null, socket: Socket | null, reused: boolean) => void;

/** The holder of a lent socket: its events go here until it releases or disowns the socket. */
export interface UpstreamOwner {
  onUpData(chunk: Buffer): void;
  onUpEnd(): void;
  onUpClose(): void;
  onUpDrain(): void;
}

const kIdle = Symbol('aim.idle');
const kIdleKey = Symbol('aim.idleKey');
const kIdleSince = Symbol('aim.idleSince');
const kOwner = Symbol('aim.owner');
type PooledSocket = Socket & { [kIdle]?: boolean; [kIdleKey]?: string; [kIdleSince]?: number; [kOwner]?: UpstreamOwner | null };

/** Stop passing a socket's events to its owner (before destroying it, or handing it on). */
export function disown(s: Socket): void {
  const p = s as PooledSocket;
  if (p[kOwner] !== undefined) p[kOwner] = null;
}

export class ConnectionPool {
  readonly dialer: Dialer;
  readonly opts: PoolOptions;
  #idle = new Map<string, PooledSocket[]>();
  /** Open upstream connections (busy + idle), for limits and /clusters. */
  open = 0;
  connectsTotal = 0;
  reusesTotal = 0;
  #closed = false;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(dialer: Dialer, opts: PoolOptions) {
    this.dialer = dialer;
    this.opts = opts;
  }

  /**
   * A socket to `ep`: an idle one, or a new connection. With `owner`, the socket's
   * data/end/close/drain events go to it until `release` or `disown`; without, the
   * caller attaches its own listeners (and never releases the socket).
   */
  acquire(ep: Endpoint, cb: AcquireCallback, owner?: UpstreamOwner): void {
    // Without an owner (a TCP stream) the socket is never given back: always a fresh connection.
    const list = owner === undefined ? undefined : this.#idle.get(ep.key);
    while (list !== undefined && list.length > 0) {
      const s = list.pop()!;
      if (s.destroyed || !s.writable) continue;
      s[kIdle] = false;
      lend(s, owner!);
      this.reusesTotal++;
      cb(null, s, true);
      return;
    }
    this.#connect(ep, owner === undefined ? cb : (err, s, reused) => {
      if (s !== null) lend(s, owner);
      cb(err, s, reused);
    });
  }

  #connect(ep: Endpoint, cb: AcquireCallback): void {
    if (this.#closed) { cb(new ProxyError('draining', 'upstream pool is closed'), null, false); return; }
    const limits = this.opts.limits;
    if (limits !== undefined) {
      if (!limits.tryAcquire('connections')) { cb(limits.overflowError('connections'), null, false); return; }
      if (!limits.tryAcquire('pending')) { limits.release('connections'); cb(limits.overflowError('pending'), null, false); return; }
    }
    let s: PooledSocket;
    try {
      s = this.dialer.dial(ep);
    } catch (err) {
      if (limits !== undefined) { limits.release('pending'); limits.release('connections'); }
      cb(new ProxyError('upstream_connect_failed', `${ep.key}: ${(err as Error).message}`, { cause: err }), null, false);
      return;
    }
    this.open++;
    this.connectsTotal++;
    let settled = false;
    let pending = limits !== undefined;
    const donePending = (): void => { if (pending) { pending = false; limits!.release('pending'); } };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      donePending();
      s.destroy();
      cb(new ProxyError('upstream_connect_timeout', `${ep.key}: no connection within ${this.opts.connectTimeoutMs} ms`), null, false);
    }, this.opts.connectTimeoutMs);
    const onReady = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      donePending();
      s.removeListener('error', onError);
      cb(null, s, false);
    };
    const onError = (err: Error & { code?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      donePending();
      const tlsIdentity = err.code === 'ERR_AIM_SPIFFE_MISMATCH' || err.code === 'ERR_AIM_PEER_CERT';
      cb(new ProxyError(tlsIdentity ? 'upstream_tls_identity' : 'upstream_connect_failed', `${ep.key}: ${err.message}`, { cause: err }), null, false);
    };
    s.once(this.dialer.readyEvent, onReady);
    s.once('error', onError);
    s.once('close', () => {
      this.open--;
      limits?.release('connections');
      this.#forget(s);
      if (!settled) onError(Object.assign(new Error('connection closed during connect'), { code: 'ECONNRESET' }));
    });
    // Errors after connect belong to whoever holds the socket; this keeps an idle one from crashing us.
    s.on('error', noop);
    // A FIN on an idle (half-open capable) socket: it can never be reused.
    s.on('end', () => { if (s[kIdle]) s.destroy(); });
  }

  /** Return a healthy socket after a complete exchange (one lent with an owner: only those are watched while idle). */
  release(ep: Endpoint, s: PooledSocket): void {
    if (this.#closed || s.destroyed || !ep.live || s[kOwner] === undefined) { s.destroy(); return; }
    let list = this.#idle.get(ep.key);
    if (list === undefined) { list = []; this.#idle.set(ep.key, list); }
    if (list.length >= this.opts.maxIdlePerEndpoint) { s.destroy(); return; }
    // Nobody holds it now: bytes arriving close it (onData), and so does a FIN (the 'end' listener in #connect).
    s[kOwner] = null;
    s[kIdle] = true;
    s[kIdleKey] = ep.key;
    s[kIdleSince] = performance.now();
    list.push(s);
    if (this.#sweeper === undefined && this.opts.idleTimeoutMs > 0) {
      const every = Math.max(5, Math.min(1000, this.opts.idleTimeoutMs / 2));
      this.#sweeper = setInterval(this.#sweep, every);
      this.#sweeper.unref();
    }
  }

  /** Close sockets idle for idleTimeoutMs or longer; stop sweeping when none is idle. */
  #sweep = (): void => {
    const oldest = performance.now() - this.opts.idleTimeoutMs;
    for (const [key, list] of this.#idle) {
      // LIFO: the stalest sockets are at the front.
      while (list.length > 0 && (list[0]![kIdleSince] ?? 0) <= oldest) list.shift()!.destroy();
      if (list.length === 0) this.#idle.delete(key);
    }
    if (this.#idle.size === 0) { clearInterval(this.#sweeper); this.#sweeper = undefined; }
  };

  #forget(s: PooledSocket): void {
    const key = s[kIdleKey];
    if (key === undefined) return;
    const list = this.#idle.get(key);
    if (!list) return;
    const i = list.indexOf(s);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.#idle.delete(key);
  }

  idleCount(key?: string): number {
    if (key !== undefined) return this.#idle.get(key)?.length ?? 0;
    let n = 0;
    for (const l of this.#idle.values()) n += l.length;
    return n;
  }

  /** Close idle sockets of one endpoint (removed by discovery), or all. */
  closeIdle(key?: string): void {
    const lists = key === undefined ? [...this.#idle.values()] : [this.#idle.get(key) ?? []];
    for (const l of lists) for (const s of [...l]) s.destroy();
  }

  close(): void {
    this.#closed = true;
    this.closeIdle();
    if (this.#sweeper !== undefined) { clearInterval(this.#sweeper); this.#sweeper = undefined; }
  }
}

function noop(): void {}

/** Hand the socket to `owner`; its dispatching listeners are installed at the first loan. */
function lend(s: PooledSocket, owner: UpstreamOwner): void {
  if (s[kOwner] === undefined) {
    s.setNoDelay(true);
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('close', onClose);
    s.on('drain', onDrain);
  }
  s[kOwner] = owner;
}

function onData(this: PooledSocket, chunk: Buffer): void {
  const o = this[kOwner];
  if (o) o.onUpData(chunk);
  else this.destroy(); // bytes from an idle upstream: a protocol violation, never reuse it
}
function onEnd(this: PooledSocket): void { this[kOwner]?.onUpEnd(); }
function onClose(this: PooledSocket): void { this[kOwner]?.onUpClose(); }
function onDrain(this: PooledSocket): void { this[kOwner]?.onUpDrain(); }
