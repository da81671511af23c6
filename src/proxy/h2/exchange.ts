/**
 * One HTTP/2 stream proxied to one upstream stream: the h2 data path.
 *
 * Per stream (so per gRPC call): validate and rewrite the head, run the same
 * filter stack as HTTP/1 with a fresh RequestCtx (protocol 'h2', ctx.grpc
 * for application/grpc*), then attempts: each picks its endpoint through the
 * cluster's balancer (every stream balances on its own) and opens a stream
 * on that endpoint's pooled session. Bodies are forwarded chunk by chunk
 * with backpressure both ways, so HTTP/2 flow control holds end to end: a
 * reader that stops stops the writer's window. Trailers pass through (the
 * response is always sent with waitForTrailers).
 *
 * The route policy (resilience) applies as on the HTTP/1 path: the request
 * deadline (route timeout tightened by grpc-timeout), per-try timeouts,
 * retries decided by the route's decider with the body replayed from a
 * bounded buffer, faults inside the retry loop. A client's grpc-timeout also
 * bounds the whole call, and the time left is what the upstream receives.
 *
 * Failures become ProxyErrors and go to `#fail`, the one place that decides
 * what the client sees (through `rescue.ts`). A client RST_STREAM cancels the
 * upstream stream; an upstream reset resets the client's stream (for gRPC,
 * trailers carrying the status when the response had started).
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { ProxyError, asProxyError } from '../../core/errors.ts';
import { headerValue, newRequestCtx, runDoneFilters, runRequestFilters, runResponseFilters, Verdict, type Direction, type Filter, type RequestCtx } from '../../core/filter.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { Cluster } from '../cluster.ts';
import { AttemptLoop, type AttemptHost } from '../attempt-loop.ts';
import type { Logger } from '../../telemetry/log.ts';
import { HOPS_HEADER, PEER_IDENTITY_HEADER, rewriteRequestHeaders, type RewriteOut } from '../http1/headers.ts';
import type { RoutePolicy } from '../../resilience/upstream.ts';
import { deadlineFor } from '../../resilience/timeout/deadline.ts';
import { formatGrpcTimeout, parseGrpcTimeout } from '../../resilience/timeout/grpc-timeout.ts';
import { ReplayBody } from '../../resilience/retry/replay-body.ts';
import { FaultAbortError } from '../../resilience/fault/injector.ts';
import { isAsyncFilter, type AsyncFilter } from '../../resilience/async-filter.ts';
import { addFlat, downstreamHeaders, isGrpcContentType, parseH2RequestHead, upstreamRequestHeaders } from './headers.ts';
import { grpcErrorTrailers, respondError } from './rescue.ts';
import type { H2SessionPool, H2Upstream } from './session-pool.ts';

export interface H2ForwardOptions {
  readonly direction: Direction;
  readonly listener: string;
  readonly cluster: Cluster;
  readonly sessions: H2SessionPool;
  readonly filters: readonly Filter[];
  /** x-forwarded-proto of this hop: 'http' on plaintext ports, 'https' behind TLS. */
  readonly proto: string;
  readonly generateRequestId: boolean;
  readonly maxHops: number;
  readonly maxUrlBytes: number;
  /** Reset a stream with no bytes either way for this long (0 = never). */
  readonly streamIdleMs: number;
  readonly log: Logger;
  /** The overload manager: while it says overloaded, new streams get 503 `overloaded` (gRPC: UNAVAILABLE), as on HTTP/1. */
  readonly overload?: { readonly overloaded: boolean; error(): ProxyError };
}

/** gRPC statuses that mean the endpoint failed the call (for breakers and outlier detection). */
const GRPC_ENDPOINT_FAILURE = new Set([2, 4, 13, 14]);
const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = constants;
const asyncFiltersOf = new WeakMap<readonly Filter[], readonly AsyncFilter[]>();

export class H2Exchange implements AttemptHost {
  readonly down: ServerHttp2Stream;
  readonly o: H2ForwardOptions;
  readonly ctx: RequestCtx;
  #out: OutgoingHttpHeaders = {};
  /** Attempts, their timer and the retry decision (attempt-loop.ts). */
  readonly #loop: AttemptLoop;
  #up: ClientHttp2Stream | null = null;
  #upErrCode: string | undefined;
  /** The request had END_STREAM on its HEADERS: no body. */
  #noBody = false;
  #reqEnded = false;
  #reading = false;
  #replay: ReplayBody = new ReplayBody(0);
  /** The current attempt's stream was opened (its HEADERS went out). */
  #sent = false;
  #upEnded = false;
  #upTrailers: OutgoingHttpHeaders | undefined;
  #errTrailers: OutgoingHttpHeaders | undefined;
  #trailersSent = false;
  #failed = false;
  #finished = false;
  #rstPending = false;
  #discarding = false;
  #plainReply = false;
  #refusals = 0;
  /** The client's grpc-timeout as a deadline for the whole call (Infinity = none). */
  #callDeadline = Infinity;
  #callTimer: NodeJS.Timeout | undefined;
  #rw: RewriteOut = { requestId: '', spanId: '', traceparent: '', hops: 0 };

  constructor(down: ServerHttp2Stream, o: H2ForwardOptions, peerIdentity: string | undefined, remoteAddress: string) {
    this.down = down;
    this.o = o;
    this.#loop = new AttemptLoop(this, o.cluster);
    const c = this.ctx = newRequestCtx();
    c.direction = o.direction;
    c.listener = o.listener;
    c.upstream = o.cluster.name;
    c.protocol = 'h2';
    c.peerIdentity = peerIdentity;
    c.remoteAddress = remoteAddress;
    c.startedAt = performance.now();
  }

  start(raw: readonly string[]): void {
    const down = this.down;
    const c = this.ctx;
    down.on('error', this.#onDownError);
    down.on('close', this.#onDownClose);
    down.on('wantTrailers', this.#onWantTrailers);
    if (this.o.streamIdleMs > 0) down.setTimeout(this.o.streamIdleMs, this.#onIdle);
    c.grpc = isGrpcContentType(rawValue(raw, 'content-type'));
    let head;
    try {
      head = parseH2RequestHead(raw, this.o.maxUrlBytes);
    } catch (err) {
      c.method = rawValue(raw, ':method') ?? '';
      c.target = rawValue(raw, ':path') ?? '';
      this.#fail(asProxyError(err, 'bad_request'));
      return;
    }
    c.method = head.method;
    c.target = head.path;
    c.authority = head.authority;
    c.headers = head.headers;
    const regular = rewriteRequestHeaders(head.headers, [], { remoteAddress: c.remoteAddress, proto: this.o.proto, upgrade: false, requestId: this.o.generateRequestId }, this.#rw);
    c.requestId = this.#rw.requestId;
    c.spanId = this.#rw.spanId;
    const ov = this.o.overload;
    if (ov !== undefined && ov.overloaded) {
      // Shed the stream; the session stays (other streams on it may be finishing).
      this.#fail(ov.error());
      return;
    }
    if (this.#rw.hops >= this.o.maxHops) {
      this.#fail(new ProxyError('loop_detected', `request has crossed ${this.#rw.hops} agents (limit ${this.o.maxHops})`));
      return;
    }
    if (runRequestFilters(this.o.filters, c) === Verdict.Reply) {
      this.#fail(c.error ?? new ProxyError('internal_error', 'filter replied without an error'));
      return;
    }
    this.#out = upstreamRequestHeaders(head, regular);
    const af = asyncFilters(this.o.filters);
    if (af.length > 0) { void this.#runAsyncFilters(af); return; }
    this.#proceed();
  }

  async #runAsyncFilters(af: readonly AsyncFilter[]): Promise<void> {
    const c = this.ctx;
    try {
      for (const f of af) {
        const p = f.onRequestAsync(c);
        if (p !== null && (await p) === Verdict.Reply) { this.#fail(c.error ?? new ProxyError('internal_error', 'filter replied without an error')); return; }
      }
    } catch (err) {
      this.#fail(asProxyError(err));
      return;
    }
    if (!this.#failed && !this.#finished) this.#proceed();
  }

  /** After the filters let the request through: finish the head, arm the deadlines, first attempt. */
  #proceed(): void {
    const c = this.ctx;
    const extra = c.addRequestHeaders;
    const out = this.#out;
    if (extra.length > 0) addFlat(out, extra);
    addFlat(out, [HOPS_HEADER, String(this.#rw.hops + 1)]);
    if (c.peerIdentity !== undefined && this.o.direction === 'inbound') addFlat(out, [PEER_IDENTITY_HEADER, c.peerIdentity]);
    const route = c.route as RoutePolicy | undefined;
    this.#loop.begin(c, deadlineFor(c, route !== undefined ? route.timeouts.requestMs : this.o.cluster.timeouts.requestMs));
    if (c.grpc) {
      const v = headerValue(c.headers, 'grpc-timeout');
      const g = v === undefined ? -1 : parseGrpcTimeout(v);
      if (g >= 0) {
        this.#callDeadline = c.startedAt + g;
        this.#callTimer = setTimeout(this.#onCallDeadline, Math.max(1, Math.ceil(this.#callDeadline - performance.now())));
      }
    }
    this.#noBody = this.down.endAfterHeaders;
    this.#replay = new ReplayBody(route !== undefined ? route.maxReplayBody : 0);
    if (!this.#noBody) {
      this.down.pause();
      this.down.on('data', this.#onDownData);
      this.down.on('end', this.#onDownEnd);
    }
    this.#loop.attempt();
  }

  // === attempts: the loop's host (attempt-loop.ts) ===

  openAttempt(ep: Endpoint, seq: number): void {
    this.#sent = false;
    this.#upEnded = false;
    this.#upTrailers = undefined;
    this.#upErrCode = undefined;
    this.o.sessions.acquire(ep, (err, up) => this.#onSession(seq, err, up));
  }

  dropAttempt(): void { this.#dropUpstream(); }
  fail(err: ProxyError): void { this.#fail(err); }
  delayed(): void { /* the request body waits in the stream's own buffer */ }
  retrying(): void { this.#sent = false; }
  get retryable(): boolean { return !this.#failed && !this.#finished && !this.down.headersSent; }
  get replayable(): boolean { return this.#replay.replayable; }
  get requestSent(): boolean { return this.#sent; }
  get over(): boolean { return this.#failed || this.#finished; }

  #onSession(seq: number, err: ProxyError | null, up: H2Upstream | null): void {
    if (this.#failed || this.#finished || !this.#loop.current(seq)) return; // abandoned attempt
    if (err !== null || up === null) { this.#loop.failed(err ?? new ProxyError('upstream_connect_failed', 'no session')); return; }
    if (this.#callDeadline !== Infinity) this.#out['grpc-timeout'] = formatGrpcTimeout(this.#callDeadline - performance.now());
    let s: ClientHttp2Stream;
    try {
      s = up.request(this.#out, { endStream: this.#noBody || (this.#reqEnded && this.#replay.bytes === 0) });
    } catch (e) {
      this.#loop.failed(asProxyError(e, 'upstream_reset'));
      return;
    }
    this.#up = s;
    this.#sent = true;
    s.on('response', this.#onUpResponse);
    s.on('headers', this.#onUpInfo);
    s.on('trailers', this.#onUpTrailers);
    s.on('end', this.#onUpEnd);
    s.on('close', this.#onUpClose);
    s.on('error', this.#onUpError);
    s.on('drain', this.#onUpDrain);
    if (this.#noBody) return;
    // A retry: what the client sent so far is in the replay buffer.
    if (this.ctx.attempts > 1) {
      for (const chunk of this.#replay.chunks()) s.write(chunk);
      if (this.#reqEnded) { s.end(); return; }
    }
    this.#reading = true;
    this.down.resume();
  }

  #onDownData = (chunk: Buffer): void => {
    if (this.#discarding) return;
    this.ctx.bytesIn += chunk.length;
    this.#replay.push(chunk);
    const s = this.#up;
    if (s === null || s.closed || s.destroyed) { this.#pauseReading(); return; }
    if (!s.write(chunk)) this.#pauseReading();
  };

  #onDownEnd = (): void => {
    this.#reqEnded = true;
    this.#replay.end();
    const s = this.#up;
    if (s !== null && !s.closed && !s.destroyed) s.end();
  };

  #onUpDrain = (): void => {
    if (this.#up !== null && !this.#reqEnded && !this.#reading) { this.#reading = true; this.down.resume(); }
  };

  #pauseReading(): void {
    this.#reading = false;
    this.down.pause();
  }

  #onCallDeadline = (): void => {
    this.#callTimer = undefined;
    this.#fail(new ProxyError('upstream_timeout', `grpc-timeout of ${Math.round(this.#callDeadline - this.ctx.startedAt)} ms exceeded`));
  };

  #onIdle = (): void => {
    this.#fail(new ProxyError('upstream_timeout', `no bytes either way for ${this.o.streamIdleMs} ms`));
  };

  // === upstream stream events ===

  #onUpInfo = (h: IncomingHttpHeaders): void => {
    const status = Number(h[':status']);
    if (status >= 100 && status < 200 && status !== 101 && !this.down.headersSent) {
      try { this.down.additionalHeaders(downstreamHeaders(h, true)); } catch { /* stream went away */ }
    }
  };

  #onUpResponse = (h: IncomingHttpHeaders, flags: number): void => {
    if (this.#failed || this.#finished) return;
    const c = this.ctx;
    const status = Number(h[':status']);
    const trailersOnly = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    const gs = trailersOnly && typeof h['grpc-status'] === 'string' ? Number(h['grpc-status']) : -1;
    // The attempt ends with this answer; a retryable one (the route's statuses or gRPC codes) is dropped and retried.
    const retryAfter = typeof h['retry-after'] === 'string' ? h['retry-after'] : undefined;
    if (this.#loop.responded(status, status < 500 && !GRPC_ENDPOINT_FAILURE.has(gs), retryAfter, gs)) return;
    c.status = status;
    runResponseFilters(this.o.filters, c);
    const out = downstreamHeaders(h, true);
    addFlat(out, c.addResponseHeaders);
    try {
      this.down.respond(out, trailersOnly ? { endStream: true } : { waitForTrailers: true });
    } catch (err) {
      this.#fail(asProxyError(err, 'upstream_protocol_error'));
      return;
    }
    c.responseStartedAt = performance.now();
    if (trailersOnly) { this.#trailersSent = true; this.#stopReadingRequest(); return; }
    const s = this.#up!;
    s.on('data', this.#countOut);
    s.pipe(this.down);
  };

  #countOut = (chunk: Buffer): void => {
    this.ctx.bytesOut += chunk.length;
  };

  #onUpTrailers = (t: IncomingHttpHeaders): void => {
    this.#upTrailers = downstreamHeaders(t, false);
  };

  #onUpEnd = (): void => {
    this.#upEnded = true;
  };

  #onUpError = (err: Error & { code?: string }): void => {
    this.#upErrCode = err.code;
  };

  #onUpClose = (): void => {
    const s = this.#up;
    if (s === null || this.#failed || this.#finished) return;
    if (this.#upEnded && this.down.headersSent) {
      // Complete (the pipe ends the client's stream). A request body still arriving has nowhere to go.
      this.#stopReadingRequest();
      return;
    }
    const code = s.rstCode;
    const refused = code === NGHTTP2_REFUSED_STREAM || this.#upErrCode === 'ERR_HTTP2_GOAWAY_SESSION';
    if (!this.down.headersSent) {
      if (refused && this.#replay.replayable && this.#refusals < 2) {
        // The upstream did not process the stream (GOAWAY race, refused): resend it as is; not a new attempt.
        this.#refusals++;
        this.#loop.resend('upstream_reset');
        return;
      }
      this.#loop.failed(new ProxyError('upstream_reset', `upstream closed the stream before the response head (${codeName(code)})`));
      return;
    }
    this.#fail(new ProxyError('upstream_reset', `upstream reset the stream mid-response (${codeName(code)})`));
  };

  // === downstream events ===

  #onWantTrailers = (): void => {
    this.#trailersSent = true;
    try { this.down.sendTrailers(this.#errTrailers ?? this.#upTrailers ?? {}); } catch { /* stream went away */ }
    if (this.#rstPending) this.#rstSoon();
  };

  #onDownError = (err: Error): void => {
    this.o.log.debug({ err: err.message, listener: this.o.listener }, 'downstream h2 stream error');
  };

  #onDownClose = (): void => {
    if (this.#finished) return;
    const complete = this.#trailersSent || (this.down.rstCode === NGHTTP2_NO_ERROR && this.down.writableFinished);
    if (!complete && !this.#failed) {
      // The client cancelled (RST_STREAM) or its connection went away: cancel upstream.
      this.ctx.reason ??= 'downstream_reset';
      this.o.log.debug({ reason: 'downstream_reset', listener: this.o.listener, upstream: this.o.cluster.name, request_id: this.ctx.requestId || undefined, code: codeName(this.down.rstCode) }, 'client cancelled the stream');
    }
    this.#dropUpstream();
    this.#loop.end(false, 0, 'downstream_reset');
    this.#finish();
  };

  // === completion ===

  /**
   * The one failure path. Nothing sent yet: a local reply through the rescue.
   * After the response head: gRPC gets the status in trailers; plain h2 gets RST_STREAM.
   */
  #fail(err: ProxyError): void {
    if (this.#failed || this.#finished) return;
    this.#failed = true;
    const c = this.ctx;
    const down = this.down;
    this.#clearTimers();
    this.#dropUpstream();
    this.#loop.end(false, 0, err.reason);
    c.reason = err.reason;
    const log = err.reason === 'downstream_reset' ? this.o.log.debug : this.o.log.warn;
    log.call(this.o.log, { reason: err.reason, detail: err.detail, listener: this.o.listener, upstream: this.o.cluster.name, protocol: 'h2', grpc: c.grpc || undefined,
      endpoint: c.endpoint?.key, request_id: c.requestId || undefined, method: c.method || undefined, path: c.target || undefined }, 'request failed');
    if (down.destroyed || down.closed) { this.#finish(); return; }
    if (err instanceof FaultAbortError && err.reset) { down.close(NGHTTP2_INTERNAL_ERROR); return; }
    if (!down.headersSent) {
      c.error = err;
      c.status = c.grpc ? 200 : err.status;
      runResponseFilters(this.o.filters, c);
      respondError(down, err, c.grpc, c.requestId);
      c.responseStartedAt = performance.now();
      if (c.grpc) this.#trailersSent = true;
      else this.#plainReply = true;
      this.#stopReadingRequest();
      return;
    }
    if (c.grpc && !this.#trailersSent) {
      this.#errTrailers = grpcErrorTrailers(err);
      if (!down.writableEnded) down.end(); // → wantTrailers → the status goes out in trailers
      this.#stopReadingRequest();
      return;
    }
    down.close(NGHTTP2_INTERNAL_ERROR);
  }

  /**
   * The response is complete (or a local reply was sent) while the request
   * body is still arriving: once the last frame of the response is queued,
   * ask the client to stop with RST_STREAM(NO_ERROR) (RFC 9113 §8.1).
   */
  #stopReadingRequest(): void {
    const down = this.down;
    if (this.#noBody || this.#reqEnded || down.readableEnded || this.#rstPending) return;
    this.#rstPending = true;
    if (this.#trailersSent) this.#rstSoon();
    else if (this.#plainReply) down.once('finish', this.#rstSoon);
    // else: #onWantTrailers sends the trailers, then calls #rstSoon.
  }

  #rstSoon = (): void => {
    // After Node's own setImmediate that submits the trailers.
    setImmediate(() => {
      const down = this.down;
      if (down.destroyed) return;
      if (!down.closed) down.close(NGHTTP2_NO_ERROR);
      // Node ends the stream only once its readable side is drained (even when the client had
      // already sent END_STREAM): discard what is buffered.
      this.#discarding = true;
      down.resume();
    });
  };

  #dropUpstream(): void {
    const s = this.#up;
    if (s === null) return;
    this.#up = null;
    this.#pauseReading();
    s.unpipe(this.down);
    s.removeListener('data', this.#countOut);
    if (!s.closed && !s.destroyed) s.close(NGHTTP2_CANCEL);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#clearTimers();
    this.#replay.clear();
    runDoneFilters(this.o.filters, this.ctx);
  }

  #clearTimers(): void {
    this.#loop.dispose();
    if (this.#callTimer !== undefined) { clearTimeout(this.#callTimer); this.#callTimer = undefined; }
  }
}

function asyncFilters(filters: readonly Filter[]): readonly AsyncFilter[] {
  let af = asyncFiltersOf.get(filters);
  if (af === undefined) { af = filters.filter(isAsyncFilter); asyncFiltersOf.set(filters, af); }
  return af;
}

function rawValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) return raw[i + 1];
  return undefined;
}

const CODE_NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(constants)) if (k.startsWith('NGHTTP2_') && !k.startsWith('NGHTTP2_ERR') && typeof v === 'number' && /_(ERROR|CANCEL|REFUSED_STREAM|STREAM_CLOSED|CALM|INADEQUATE_SECURITY|HTTP_1_1_REQUIRED)$/.test(k)) CODE_NAMES[v] ??= k.slice(8);

function codeName(code: number | undefined): string {
  return code === undefined ? 'no code' : CODE_NAMES[code] ?? `code ${code}`;
}
