/**
 * One downstream HTTP/1.x connection on a raw socket: the lean hot path.
 *
 * Only message heads are parsed; bodies stream through byte for byte, framed
 * by `BodyFraming`, with backpressure both ways (pause the reader while the
 * writer's buffer is full). No Node request/response objects are built.
 *
 * States of the connection (one exchange at a time; pipelined requests wait
 * in `buf` with the socket paused until the current exchange is done):
 *
 *   Head    reading a request head (header timeout runs once bytes arrive)
 *   Body    request body streaming to the upstream
 *   Wait    request complete, response still streaming back
 *   Tunnel  101 Switching Protocols: raw bytes both ways (WebSocket)
 *   Closed
 *
 * Per exchange: filters run on the head (sync); the router picks an endpoint
 * per attempt, acquires a pooled upstream socket, writes the rewritten head
 * and streams the body; the response head is parsed, rewritten and sent, and
 * its body streams back. Failures become ProxyErrors and go to one place,
 * `#fail`: a local reply through the rescue point when no response byte was
 * sent yet, otherwise an aborted downstream connection. Either way the reason
 * lands in ctx.reason for metrics and logs.
 */
import type { Socket } from 'node:net';
import { ProxyError, asProxyError } from '../../core/errors.ts';
import { headerValue, newRequestCtx, runDoneFilters, runRequestFilters, runResponseFilters, Verdict, type Filter, type RequestCtx, type Direction } from '../../core/filter.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { Cluster } from '../cluster.ts';
import { AttemptLoop, type AttemptHost } from '../attempt-loop.ts';
import { disown, type UpstreamOwner } from '../upstream/pool.ts';
import type { Logger } from '../../telemetry/log.ts';
import { BodyFraming, type FramingLimits } from './body-framing.ts';
import { BodyKind, findHeadEnd, parseRequestHead, parseResponseHead, type HeadLimits, type RequestHead, type ResponseHead } from './head-parser.ts';
import { HOPS_HEADER, PEER_IDENTITY_HEADER, headWithBody, headerOf, requestHeadString, responseHeadString, rewriteRequestHeaders, rewriteResponseHeaders, type RewriteOut } from './headers.ts';
import { errorResponse } from './rescue.ts';
import { isGrpcContentType } from '../h2/headers.ts';
import { SendGuard, type SendGuardLimits } from './send-guard.ts';
import type { RoutePolicy } from '../../resilience/upstream.ts';
import { deadlineFor } from '../../resilience/timeout/deadline.ts';
import { FaultAbortError } from '../../resilience/fault/injector.ts';
import { isAsyncFilter, type AsyncFilter } from '../../resilience/async-filter.ts';

export interface Http1Timeouts {
  /** A request head must complete within this many ms of its first byte. */
  readonly headerMs: number;
  /** Close a keep-alive connection idle between requests for this long. */
  readonly keepAliveIdleMs: number;
  /** Close a connection with no bytes either way for this long during an exchange. */
  readonly streamIdleMs: number;
}

export interface Http1Options {
  readonly direction: Direction;
  readonly listener: string;
  readonly cluster: Cluster;
  readonly filters: readonly Filter[];
  readonly headLimits: HeadLimits;
  readonly framingLimits: FramingLimits;
  readonly timeouts: Http1Timeouts;
  /** 'http' on plaintext ports, 'https' behind mTLS. */
  readonly proto: string;
  /** Generate x-request-id when absent (outbound side). */
  readonly generateRequestId: boolean;
  /** Max agent hops before a request is refused as a loop. */
  readonly maxHops: number;
  readonly log: Logger;
  /** Is the listener draining? Responses then carry `connection: close`. */
  readonly draining: () => boolean;
  /** Slow-reader rules (limits.write_idle, limits.min_send_rate); absent = off. */
  readonly sendGuard?: SendGuardLimits;
  /** The overload manager: while it says overloaded, new requests get 503 `overloaded` and the connection closes. */
  readonly overload?: { readonly overloaded: boolean; error(): ProxyError };
}

const P = { Head: 0, Body: 1, Wait: 2, Tunnel: 3, Closed: 4 } as const;
type P = (typeof P)[keyof typeof P];

/** Body bytes up to this size leave in one buffer with the response head (one write, one TLS record). */
const COALESCE_MAX = 16 * 1024;

export class Http1Connection implements AttemptHost {
  readonly sock: Socket;
  readonly o: Http1Options;
  readonly ctx: RequestCtx;
  #phase: P = P.Head;
  /** Unparsed downstream bytes (partial head or pipelined data). */
  #buf: Buffer | null = null;
  #req: RequestHead | null = null;
  #reqFraming: BodyFraming;
  #resFraming: BodyFraming;
  /** Request body bytes received before the upstream socket was ready (and kept for a replay). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The rewritten request head (latin1), kept for a replay. */
  #reqHead = '';
  /** How far findHeadEnd has scanned #buf for the current request head. */
  #headScanned = 0;
  #reqDone = false;
  #up: Socket | null = null;
  #upReused = false;
  #upBuf: Buffer | null = null;
  /** The current attempt has its upstream socket (body bytes can stream to it). */
  #attemptOpen = false;
  #res: ResponseHead | null = null;
  #resHeadSent = false;
  #resDone = false;
  #reqBytesSent = false;
  #closeAfter = false;
  #upReusable = true;
  /** Attempts, their timer and the retry decision (attempt-loop.ts); one loop for the connection's life. */
  readonly #loop: AttemptLoop;
  #headTimer: NodeJS.Timeout | undefined;
  #rw: RewriteOut = { requestId: '', spanId: '', traceparent: '', hops: 0 };
  #inExchange = false;
  /** Body bytes kept for a replay: up to the route's max_replay_body. */
  #maxReplay = 0;
  /** A body byte was streamed past the replay buffer: no retry can resend it. */
  #replayOverflow = false;
  readonly #asyncFilters: readonly AsyncFilter[];
  /** Armed only while a response is backed up in our write buffer. */
  readonly #guard: SendGuard | undefined;
  /** Where a lent upstream socket's events go (the pool calls these; no per-request listeners). */
  readonly #owner: UpstreamOwner;
  /** The socket timer's usual and current length, and how long the connection has been idle when it fires. */
  readonly #baseMs: number;
  #timerMs = 0;
  #idleFor = 0;

  constructor(sock: Socket, o: Http1Options, peerIdentity: string | undefined) {
    this.sock = sock;
    this.o = o;
    this.ctx = newRequestCtx();
    this.ctx.direction = o.direction;
    this.ctx.listener = o.listener;
    this.ctx.upstream = o.cluster.name;
    this.ctx.peerIdentity = peerIdentity;
    this.ctx.remoteAddress = sock.remoteAddress ?? '';
    this.#asyncFilters = o.filters.filter(isAsyncFilter);
    this.#reqFraming = new BodyFraming('bad_request', o.framingLimits);
    this.#resFraming = new BodyFraming('upstream_protocol_error', o.framingLimits);
    sock.setNoDelay(true);
    sock.on('data', this.#onDownData);
    sock.on('end', this.#onDownEnd);
    sock.on('close', this.#onDownClose);
    sock.on('error', this.#onDownError);
    sock.on('drain', this.#onDownDrain);
    sock.on('timeout', this.#onDownTimeout);
    // One socket timer for the connection's life, at the shorter of the two idle limits;
    // #onDownTimeout stretches it when the current phase allows longer (see there).
    const { keepAliveIdleMs: ka, streamIdleMs: si } = o.timeouts;
    this.#baseMs = ka > 0 && si > 0 ? Math.min(ka, si) : Math.max(ka, si, 0);
    this.#timerMs = this.#baseMs;
    if (this.#timerMs > 0) sock.setTimeout(this.#timerMs);
    const g = o.sendGuard;
    this.#guard = g !== undefined && g.windowMs > 0 ? new SendGuard(sock, g, this.#onSlowReader) : undefined;
    this.#owner = { onUpData: this.#onUpData, onUpEnd: this.#onUpEnd, onUpClose: this.#onUpClose, onUpDrain: this.#onUpDrain };
    this.#loop = new AttemptLoop(this, o.cluster);
  }

  /** The client reads too slowly (send-guard.ts): abort, as after any failure once the response has started. */
  #onSlowReader = (detail: string): void => {
    if (this.#phase === P.Closed) return;
    this.o.log.warn({ listener: this.o.listener, remote: this.ctx.remoteAddress, detail }, 'slow reader: connection aborted');
    // A reset, not a FIN: a FIN would wait behind the bytes the client is not reading, in an orphaned kernel buffer.
    try { this.sock.resetAndDestroy(); } catch { this.sock.destroy(); /* TLS sockets cannot be reset */ }
    if (this.#inExchange) this.#fail(new ProxyError('downstream_reset', detail));
  };

  /** Idle between requests: safe to close now for a drain. */
  get idle(): boolean {
    return this.#phase === P.Head && !this.#inExchange && (this.#buf === null || this.#buf.length === 0);
  }

  /** Close after the current exchange (drain), or now when idle. */
  shutdown(): void {
    this.#closeAfter = true;
    if (this.idle) this.#close();
  }

  destroy(): void {
    this.sock.destroy();
  }

  // === downstream events ===

  #onDownData = (chunk: Buffer): void => {
    this.#idleFor = 0;
    try {
      switch (this.#phase) {
        case P.Head:
          this.#buf = this.#buf === null ? chunk : Buffer.concat([this.#buf, chunk]);
          this.#tryHead();
          return;
        case P.Body:
          this.#feedReqBody(chunk, 0);
          return;
        case P.Wait:
          // Pipelined bytes while the response is in progress: hold them.
          this.#buf = this.#buf === null ? chunk : Buffer.concat([this.#buf, chunk]);
          this.sock.pause();
          return;
        case P.Tunnel:
          if (this.#up && !this.#up.write(chunk)) this.sock.pause();
          return;
        default:
          return;
      }
    } catch (err) {
      this.#fail(asProxyError(err));
    }
  };

  #onDownEnd = (): void => {
    if (this.#phase === P.Tunnel) { this.#up?.end(); return; }
    if (this.#phase === P.Body && !this.#reqDone) {
      // The client stopped sending in the middle of a body.
      this.#fail(new ProxyError('downstream_reset', 'client closed during request body'));
      return;
    }
    if (!this.#inExchange) this.#close();
    else this.#closeAfter = true; // half-close after a full request: answer, then close
  };

  #onDownClose = (): void => {
    const wasPhase = this.#phase;
    this.#phase = P.Closed;
    this.#clearTimers();
    this.#loop.dispose();
    this.#guard?.stop();
    if (wasPhase === P.Tunnel) {
      // The tunnel (WebSocket) is over: end the exchange, so onDone filters run (they release
      // concurrency slots and count the request; skipping them leaked one slot per tunnel).
      this.#up?.destroy();
      this.#finishCtx();
      return;
    }
    if (this.#inExchange) {
      // Client went away mid-exchange: cancel the upstream side, never reuse it.
      if (this.ctx.reason === undefined) this.ctx.reason = 'downstream_reset';
      this.#dropUpstream();
      this.#loop.end(false, 0);
      this.#finishCtx();
    }
  };

  #onDownError = (err: Error): void => {
    this.o.log.debug({ err: err.message, listener: this.o.listener }, 'downstream socket error');
  };

  #onDownDrain = (): void => {
    if (this.#up && (this.#phase === P.Wait || this.#phase === P.Body || this.#phase === P.Tunnel)) this.#up.resume();
  };

  /**
   * The socket timer fired: no downstream bytes for #timerMs (Node re-arms it on every read and
   * write). The limit depends on the phase (stream_idle during an exchange, keepalive_idle between
   * them), so rather than re-arming the timer at each phase change, it runs at the shorter limit
   * and is stretched here, rarely, to the remainder: the connection closes after exactly the
   * phase's limit without data either way (upstream bytes reset #idleFor too).
   */
  #onDownTimeout = (): void => {
    this.#idleFor += this.#timerMs;
    const limit = this.#inExchange ? this.o.timeouts.streamIdleMs : this.o.timeouts.keepAliveIdleMs;
    if (this.#phase === P.Tunnel || limit <= 0) return;
    if (this.#idleFor < limit) {
      this.#timerMs = limit - this.#idleFor;
      this.sock.setTimeout(this.#timerMs);
      return;
    }
    if (this.#inExchange) {
      this.#fail(new ProxyError('upstream_timeout', `no bytes either way for ${this.o.timeouts.streamIdleMs} ms`));
    } else {
      this.#close();
    }
  };

  /** At a phase change: back to the usual timer length if #onDownTimeout stretched it. */
  #restoreTimer(): void {
    if (this.#timerMs === this.#baseMs) return;
    this.#timerMs = this.#baseMs;
    this.sock.setTimeout(this.#baseMs);
  }

  // === request head ===

  #tryHead(): void {
    const buf = this.#buf!;
    const end = findHeadEnd(buf, this.o.headLimits, 'headers_too_large', this.#headScanned);
    if (end === -1) {
      this.#headScanned = buf.length;
      if (this.#headTimer === undefined) this.#headTimer = setTimeout(this.#onHeadTimeout, this.o.timeouts.headerMs);
      return;
    }
    this.#headScanned = 0;
    if (this.#headTimer !== undefined) { clearTimeout(this.#headTimer); this.#headTimer = undefined; }
    const head = parseRequestHead(buf, end, this.o.headLimits);
    this.#buf = end < buf.length ? buf.subarray(end) : null;
    this.#startExchange(head);
  }

  #onHeadTimeout = (): void => {
    this.#headTimer = undefined;
    if (this.#phase !== P.Head || this.#inExchange) return;
    this.#closeAfter = true;
    this.#inExchange = true;
    this.#resetCtx();
    this.#fail(new ProxyError('request_header_timeout', `request head incomplete after ${this.o.timeouts.headerMs} ms`));
  };

  #resetCtx(): void {
    const c = this.ctx;
    c.method = ''; c.target = ''; c.authority = ''; c.headers = []; c.grpc = false; c.requestId = '';
    c.startedAt = performance.now(); c.error = undefined; c.addRequestHeaders = []; c.addResponseHeaders = [];
    c.route = undefined; c.endpoint = undefined; c.attempts = 0; c.status = 0; c.reason = undefined;
    c.responseStartedAt = 0; c.bytesIn = 0; c.bytesOut = 0; c.protocol = 'http/1.1';
  }

  #startExchange(req: RequestHead): void {
    this.#inExchange = true;
    this.#req = req;
    this.#resetCtx();
    const c = this.ctx;
    c.method = req.method;
    c.target = req.target;
    c.authority = req.host;
    c.headers = req.headers;
    c.protocol = req.version === 10 ? 'http/1.0' : 'http/1.1';
    // gRPC over HTTP/1 too: its grpc-timeout tightens the request deadline (deadlineFor).
    c.grpc = isGrpcContentType(headerValue(req.headers, 'content-type'));
    this.#reqDone = false;
    this.#resDone = false;
    this.#res = null;
    this.#resHeadSent = false;
    this.#reqBytesSent = false;
    this.#upReusable = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#replayOverflow = false;
    this.#reqFraming.reset(req.bodyKind, req.contentLength);
    this.#phase = P.Body;
    this.#restoreTimer();
    if (!req.keepAlive) this.#closeAfter = true;

    // Head rewrite before filters run, so they see the request id and hop count.
    const headers = rewriteRequestHeaders(req.headers, req.connectionTokens,
      { remoteAddress: c.remoteAddress, proto: this.o.proto, upgrade: req.upgrade, requestId: this.o.generateRequestId }, this.#rw);
    c.requestId = this.#rw.requestId;
    c.spanId = this.#rw.spanId;
    const ov = this.o.overload;
    if (ov !== undefined && ov.overloaded) {
      // Shed: answer 503 with Retry-After and close, which releases this connection's memory too.
      this.#closeAfter = true;
      this.#failBeforeUpstream(ov.error());
      return;
    }
    if (this.#rw.hops >= this.o.maxHops) {
      this.#failBeforeUpstream(new ProxyError('loop_detected', `request has crossed ${this.#rw.hops} agents (limit ${this.o.maxHops})`));
      return;
    }
    if (runRequestFilters(this.o.filters, c) === Verdict.Reply) {
      this.#failBeforeUpstream(c.error ?? new ProxyError('internal_error', 'filter replied without an error'));
      return;
    }
    if (this.#asyncFilters.length > 0) {
      // Only stacks with I/O-bound filters (a Redis rate limit) ever wait here.
      this.sock.pause();
      void this.#runAsyncFilters(headers, 0);
      return;
    }
    this.#proceed(headers);
  }

  async #runAsyncFilters(headers: string[], from: number): Promise<void> {
    const c = this.ctx;
    try {
      for (let i = from; i < this.#asyncFilters.length; i++) {
        const p = this.#asyncFilters[i]!.onRequestAsync(c);
        if (p !== null && (await p) === Verdict.Reply) {
          if (this.#phase === P.Closed) return;
          this.#failBeforeUpstream(c.error ?? new ProxyError('internal_error', 'filter replied without an error'));
          return;
        }
      }
    } catch (err) {
      if (this.#phase !== P.Closed) this.#failBeforeUpstream(asProxyError(err));
      return;
    }
    if (this.#phase === P.Closed) return;
    this.sock.resume();
    this.#proceed(headers);
  }

  /** After the filters let the request through: finish the head and start the first attempt. */
  #proceed(headers: string[]): void {
    const c = this.ctx;
    const req = this.#req!;
    const route = c.route as RoutePolicy | undefined;
    const reqMs = route !== undefined ? route.timeouts.requestMs : this.o.cluster.timeouts.requestMs;
    this.#loop.begin(c, deadlineFor(c, reqMs));
    this.#maxReplay = route !== undefined ? route.maxReplayBody : 0;
    const extra = c.addRequestHeaders;
    for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
    headers.push(HOPS_HEADER, String(this.#rw.hops + 1));
    if (c.peerIdentity !== undefined && this.o.direction === 'inbound') headers.push(PEER_IDENTITY_HEADER, c.peerIdentity);
    if (req.bodyKind === BodyKind.Chunked) headers.push('transfer-encoding', 'chunked');
    // HTTP/1.0 may omit Host, but we forward as HTTP/1.1, which requires it: name the upstream service.
    if (req.version === 10 && headerOf(req.headers, 'host') === undefined) headers.push('host', this.o.cluster.name);
    this.#reqHead = requestHeadString(req.method, req.target, headers);

    // Body bytes that arrived with the head.
    const rest = this.#buf;
    this.#buf = null;
    if (this.#reqFraming.done) this.#requestComplete(rest);
    else if (rest !== null) this.#feedReqBody(rest, 0);
    this.#loop.attempt();
  }

  /** A local reply before any upstream work; the request body (if any) is not read, so the connection closes. */
  #failBeforeUpstream(err: ProxyError): void {
    if (!this.#reqFraming.done) this.#closeAfter = true;
    this.#reqDone = true;
    this.#phase = P.Wait;
    this.#fail(err);
  }

  // === request body ===

  #feedReqBody(chunk: Buffer, start: number): void {
    const n = this.#reqFraming.feed(chunk, start);
    if (n > 0) {
      const piece = start === 0 && n === chunk.length ? chunk : chunk.subarray(start, start + n);
      this.ctx.bytesIn += n;
      const up = this.#up;
      if (up !== null && this.#attemptOpen) {
        this.#reqBytesSent = true;
        this.#keepForReplay(piece, n);
        if (!up.write(piece)) this.sock.pause();
      } else {
        this.#pending.push(piece);
        this.#pendingBytes += n;
        this.sock.pause(); // nothing to write to yet: stop reading
      }
    }
    if (this.#reqFraming.done) {
      const restStart = start + n;
      this.#requestComplete(restStart < chunk.length ? chunk.subarray(restStart) : null);
    }
  }

  /** Keep a streamed body chunk for a retry, while the body fits the replay buffer. */
  #keepForReplay(piece: Buffer, n: number): void {
    if (this.#replayOverflow) return;
    if (this.#pendingBytes + n > this.#maxReplay) {
      this.#replayOverflow = true;
      this.#pending = [];
      return;
    }
    this.#pending.push(piece);
    this.#pendingBytes += n;
  }

  #requestComplete(rest: Buffer | null): void {
    this.#reqDone = true;
    this.#phase = P.Wait;
    if (rest !== null && rest.length > 0) {
      this.#buf = rest;
      this.sock.pause();
    }
    if (this.#resDone) this.#finish();
  }

  // === attempts: the loop's host (attempt-loop.ts) ===

  openAttempt(ep: Endpoint, seq: number): void {
    this.#attemptOpen = false;
    // Hold the body until there is somewhere to write it (a complete request has none left to read;
    // pipelined bytes pause the socket themselves).
    if (!this.#reqDone) this.sock.pause();
    this.o.cluster.pool.acquire(ep, (err, s, reused) => this.#onAcquired(seq, err, s, reused), this.#owner);
  }

  dropAttempt(): void { this.#dropUpstream(); }
  fail(err: ProxyError): void { this.#fail(err); }
  delayed(): void { this.sock.pause(); }
  retrying(): void {
    this.#res = null;
    this.#upBuf = null;
    this.#reqBytesSent = false;
  }
  get retryable(): boolean { return this.#phase !== P.Closed && !this.#resHeadSent; }
  /** Every body byte received so far is still held in #pending (none was streamed past it). */
  get replayable(): boolean { return !this.#replayOverflow && this.#pendingBytes === this.ctx.bytesIn; }
  get requestSent(): boolean { return this.#reqBytesSent; }
  get over(): boolean { return this.#phase === P.Closed; }

  #onAcquired(seq: number, err: ProxyError | null, s: Socket | null, reused: boolean): void {
    if (this.#phase === P.Closed || !this.#loop.current(seq)) {
      // The attempt was abandoned (timeout, client gone): a late connection is not ours to use.
      if (s !== null) { disown(s); s.destroy(); }
      return;
    }
    if (err !== null || s === null) {
      this.#loop.failed(err ?? new ProxyError('upstream_connect_failed', 'no socket'));
      return;
    }
    this.#up = s;
    this.#upReused = reused;
    this.#upBuf = null;
    this.#attemptOpen = true;
    if (this.#pending.length === 0) s.write(this.#reqHead, 'latin1');
    else {
      // cork: head + buffered body leave in one write
      s.cork();
      s.write(this.#reqHead, 'latin1');
      for (const piece of this.#pending) s.write(piece);
      s.uncork();
    }
    this.#reqBytesSent = true;
    if (this.#pendingBytes > this.#maxReplay) { this.#replayOverflow = true; this.#pending = []; }
    // Keep reading the client: body bytes now stream straight to the upstream; in Wait, an
    // early close from the client must be seen (pipelined bytes re-pause the socket).
    if (this.#buf === null) this.sock.resume();
  }

  // === upstream events ===

  #onUpData = (chunk: Buffer): void => {
    this.#idleFor = 0;
    try {
      if (this.#phase === P.Tunnel) {
        if (!this.sock.write(chunk)) { this.#up?.pause(); this.#guard?.backlogged(); }
        return;
      }
      if (this.#res === null) {
        this.#upBuf = this.#upBuf === null ? chunk : Buffer.concat([this.#upBuf, chunk]);
        this.#tryResponseHead();
        return;
      }
      this.#feedResBody(chunk, 0);
    } catch (err) {
      const e = asProxyError(err, 'upstream_protocol_error');
      this.#upReusable = false;
      this.#fail(e); // a broken response is not retried
    }
  };

  #tryResponseHead(): void {
    for (;;) {
      const buf = this.#upBuf!;
      const end = findHeadEnd(buf, this.o.headLimits, 'upstream_protocol_error');
      if (end === -1) return;
      const head = parseResponseHead(buf, end, this.#req!.method, this.o.headLimits);
      const rest = end < buf.length ? buf.subarray(end) : null;
      if (head.status < 200 && head.status !== 101) {
        // Interim response (100 Continue, 103 Early Hints): forward and keep reading.
        const h = rewriteResponseHeaders(head.headers, head.connectionTokens, false);
        this.sock.write(responseHeadString(head.status, head.statusText, h), 'latin1');
        this.#upBuf = rest;
        if (rest === null) return;
        continue;
      }
      this.#upBuf = null;
      this.#responseHead(head, rest);
      return;
    }
  }

  #responseHead(head: ResponseHead, rest: Buffer | null): void {
    const c = this.ctx;
    const req = this.#req!;
    this.#res = head;
    c.status = head.status;
    if (!head.keepAlive) this.#upReusable = false;
    // The attempt ends with this status; a retryable one is dropped (its connection with it) and retried.
    if (this.#loop.responded(head.status, head.status < 500, head.status >= 400 ? headerOf(head.headers, 'retry-after') : undefined)) return;
    runResponseFilters(this.o.filters, c);

    const tunnel = head.status === 101 && req.upgrade;
    if (head.status === 101 && !tunnel) throw new ProxyError('upstream_protocol_error', '101 Switching Protocols without an Upgrade request');
    const dechunk = req.version === 10 && head.bodyKind === BodyKind.Chunked;
    if (dechunk || head.bodyKind === BodyKind.UntilClose || this.o.draining()) this.#closeAfter = true;
    if (req.upgrade && !tunnel) this.#closeAfter = true; // refused upgrade: nothing after it is tunnelled
    const h = rewriteResponseHeaders(head.headers, head.connectionTokens, tunnel);
    const extra = c.addResponseHeaders;
    for (let i = 0; i < extra.length; i++) h.push(extra[i]!);
    if (head.bodyKind === BodyKind.Chunked && !dechunk) h.push('transfer-encoding', 'chunked');
    if (!tunnel) {
      if (this.#closeAfter) h.push('connection', 'close');
      else if (req.version === 10) h.push('connection', 'keep-alive');
    }
    const out = responseHeadString(head.status, head.statusText, h);
    this.#resHeadSent = true;
    c.responseStartedAt = performance.now();

    if (tunnel) {
      this.sock.write(out, 'latin1');
      this.#phase = P.Tunnel;
      this.sock.setTimeout(0);
      const pending = this.#buf;
      this.#buf = null;
      if (rest !== null) this.sock.write(rest);
      if (pending !== null) this.#up!.write(pending);
      this.sock.resume();
      return;
    }
    this.#resFraming.reset(head.bodyKind, head.contentLength, dechunk);
    if (this.#resFraming.done || rest === null) {
      this.sock.write(out, 'latin1');
      if (this.#resFraming.done) this.#responseComplete(rest);
    } else {
      // The head and the body bytes that came with it leave together.
      this.#feedResBody(rest, 0, out);
    }
  }

  /** Forward response body bytes from chunk[start..]; `head`: a response head not yet written, to go first. */
  #feedResBody(chunk: Buffer, start: number, head: string | null = null): void {
    const f = this.#resFraming;
    let n: number;
    try {
      n = f.feed(chunk, start);
    } catch (err) {
      // A framing error in the first body bytes: the head still goes out, then the abort (#fail).
      if (head !== null) this.sock.write(head, 'latin1');
      throw err;
    }
    if (n > 0) {
      this.ctx.bytesOut += n;
      const sock = this.sock;
      let ok = true;
      if (f.dechunked !== null) {
        if (head !== null) { sock.cork(); sock.write(head, 'latin1'); }
        for (const p of f.dechunked) ok = sock.write(p) && ok;
        f.dechunked.length = 0;
        if (head !== null) sock.uncork();
      } else {
        const piece = start === 0 && n === chunk.length ? chunk : chunk.subarray(start, start + n);
        if (head === null) ok = sock.write(piece);
        else if (piece.length <= COALESCE_MAX) ok = sock.write(headWithBody(head, piece));
        else { sock.cork(); sock.write(head, 'latin1'); ok = sock.write(piece); sock.uncork(); }
      }
      if (!ok) { this.#up?.pause(); this.#guard?.backlogged(); }
    } else if (head !== null) {
      this.sock.write(head, 'latin1');
    }
    if (f.done) this.#responseComplete(start + n < chunk.length ? chunk.subarray(start + n) : null);
  }

  #responseComplete(extra: Buffer | null): void {
    // Bytes after a complete response: the upstream broke framing; do not reuse it.
    if (extra !== null && extra.length > 0) this.#upReusable = false;
    this.#resDone = true;
    if (this.#reqDone) this.#finish();
    else {
      // Early response (e.g. 413) before the request body finished: answer and close.
      this.#upReusable = false;
      this.#closeAfter = true;
      this.#finish();
    }
  }

  #onUpEnd = (): void => {
    if (this.#phase === P.Tunnel) { this.sock.end(); return; }
    // The upstream sent FIN: never reuse this connection.
    this.#upReusable = false;
    if (this.#res !== null && this.#resFraming.kind === BodyKind.UntilClose && !this.#resDone) {
      this.#responseComplete(null);
      return;
    }
    // Upstream sockets may be half-open capable (shared dialer with TCP): close ours too,
    // so an incomplete response is reported through 'close' as a reset.
    if (!this.#resDone) this.#up?.destroy();
  };

  #onUpClose = (): void => {
    if (this.#phase === P.Tunnel) { this.sock.destroy(); return; }
    if (this.#up === null || this.#resDone) return;
    const err = new ProxyError('upstream_reset', this.#res === null ? 'upstream closed before the response head' : 'upstream closed in the middle of the response body');
    this.#up = null;
    if (this.#res === null) {
      // Nothing reached the client yet: maybe a keep-alive race on a reused socket.
      if (this.#upReused && this.#upBuf === null && this.replayable && this.#req!.bodyKind === BodyKind.None) {
        this.#reqBytesSent = false;
        this.#loop.resend('upstream_reset'); // a stale pooled socket is not a real attempt
        return;
      }
      this.#loop.failed(err);
    } else {
      this.#fail(err);
    }
  };

  #onUpDrain = (): void => {
    if (this.#phase === P.Body || this.#phase === P.Tunnel) this.sock.resume();
  };

  // === completion ===

  #finish(): void {
    this.#clearTimers();
    const up = this.#up;
    if (up !== null) {
      this.#detachUp(up);
      this.#up = null;
      const ep = this.#loop.endpoint;
      if (this.#upReusable && ep !== undefined) this.o.cluster.pool.release(ep, up);
      else up.destroy();
    }
    this.#finishCtx();
    if (this.#closeAfter || this.o.draining()) {
      this.#close();
      return;
    }
    this.#phase = P.Head;
    this.#idleFor = 0;
    this.#restoreTimer();
    if (this.#buf !== null) {
      try { this.#tryHead(); } catch (err) { this.#fail(asProxyError(err)); return; }
    }
    if (this.#phase === P.Head || this.#phase === P.Body) this.sock.resume();
  }

  #finishCtx(): void {
    if (!this.#inExchange) return;
    this.#inExchange = false;
    runDoneFilters(this.o.filters, this.ctx);
  }

  /**
   * The one failure path. Before any response byte went out: a local reply
   * via the rescue point. After: abort the downstream connection so the client
   * never mistakes a truncated response for a complete one.
   */
  #fail(err: ProxyError): void {
    if (!this.#inExchange) { this.#resetCtx(); this.#inExchange = true; }
    const c = this.ctx;
    this.#clearTimers();
    this.#dropUpstream();
    this.#loop.end(false, 0, err.reason);
    c.reason = err.reason;
    const log = err.reason === 'downstream_reset' ? this.o.log.debug : this.o.log.warn;
    log.call(this.o.log, { reason: err.reason, detail: err.detail, listener: this.o.listener, upstream: this.o.cluster.name,
      endpoint: c.endpoint?.key, request_id: c.requestId || undefined, method: c.method || undefined, path: c.target || undefined }, 'request failed');
    if (this.#phase === P.Closed) { this.#finishCtx(); return; }
    if (err instanceof FaultAbortError && err.reset) {
      // An injected reset (fault.abort.reset): the client sees a TCP reset, not an answer.
      this.#finishCtx();
      try { this.sock.resetAndDestroy(); } catch { this.sock.destroy(); /* TLS sockets cannot be reset */ }
      this.#phase = P.Closed;
      return;
    }
    if (this.#resHeadSent || err.reason === 'downstream_reset') {
      this.#finishCtx();
      this.sock.destroy();
      this.#phase = P.Closed;
      return;
    }
    c.error = err;
    c.status = err.status;
    if (!this.#reqDone) this.#closeAfter = true;
    if (err.reason === 'bad_request' || err.reason === 'headers_too_large' || err.reason === 'uri_too_long' || err.reason === 'not_an_open_proxy') this.#closeAfter = true;
    runResponseFilters(this.o.filters, c);
    this.sock.write(errorResponse(err, this.#closeAfter || this.o.draining(), c.requestId));
    c.responseStartedAt = performance.now();
    this.#resHeadSent = true;
    this.#resDone = true;
    this.#reqDone = this.#reqDone || this.#closeAfter;
    this.#finish();
  }

  #dropUpstream(): void {
    const up = this.#up;
    if (up === null) return;
    this.#up = null;
    this.#detachUp(up);
    up.destroy();
  }

  #detachUp(up: Socket): void {
    disown(up);
    if (up.isPaused()) up.resume();
  }

  #clearTimers(): void {
    this.#loop.stop();
    if (this.#headTimer !== undefined) { clearTimeout(this.#headTimer); this.#headTimer = undefined; }
  }

  #close(): void {
    if (this.#phase === P.Closed) return;
    this.#phase = P.Closed;
    this.#clearTimers();
    this.sock.end();
    // A peer that never reads could hold the socket forever: bound it.
    setTimeout(() => this.sock.destroy(), 5000).unref();
  }
}
