/**
 * One HTTP/2 stream proxied to one upstream stream: the h2 data path.
 *
 * Per stream (so per gRPC call): validate and rewrite the head, run the same
 * filter stack as HTTP/1 with a fresh RequestCtx (protocol 'h2', ctx.grpc for
 * application/grpc*), pick an endpoint through the cluster's balancer (each
 * stream balances on its own), open a stream on that endpoint's pooled
 * session, and pipe bodies both ways. Piping keeps HTTP/2 flow control end
 * to end: when a reader stops, the writer's window stops being replenished.
 * Trailers pass through (the response is always sent with waitForTrailers).
 *
 * Deadlines: `grpc-timeout` starts a deadline for the whole call; the time
 * left is forwarded as the upstream's grpc-timeout and tightens the cluster's
 * request timeout (time to the response head).
 *
 * Failures become ProxyErrors and go to `#fail`, the one place that decides
 * what the client sees (through `rescue.ts`). A client RST_STREAM cancels the
 * upstream stream with CANCEL; an upstream reset resets (or, for gRPC,
 * trailers-with-status) the client's stream.
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { ProxyError, asProxyError, type Reason } from '../../core/errors.ts';
import { headerValue, newRequestCtx, runDoneFilters, runRequestFilters, runResponseFilters, Verdict, type Direction, type Filter, type RequestCtx } from '../../core/filter.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { Cluster } from '../cluster.ts';
import type { Logger } from '../../telemetry/log.ts';
import { HOPS_HEADER, PEER_IDENTITY_HEADER, rewriteRequestHeaders, type RewriteOut } from '../http1/headers.ts';
import { addFlat, downstreamHeaders, isGrpcContentType, parseH2RequestHead, upstreamRequestHeaders } from './headers.ts';
import { formatGrpcTimeout, parseGrpcTimeout } from './grpc-timeout.ts';
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
}

/** gRPC statuses that mean the endpoint failed the call (for breakers and outlier detection). */
const GRPC_ENDPOINT_FAILURE = new Set(['2', '4', '13', '14']);
const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = constants;

export class H2Exchange {
  readonly down: ServerHttp2Stream;
  readonly o: H2ForwardOptions;
  readonly ctx: RequestCtx;
  #out: OutgoingHttpHeaders = {};
  #up: ClientHttp2Stream | null = null;
  #upErrCode: string | undefined;
  #ep: Endpoint | undefined;
  #attemptAt = 0;
  #attemptCounted = false;
  /** The request had END_STREAM on its HEADERS: no body. */
  #noBody = false;
  #piped = false;
  /** A body byte was read from the client (so the request can no longer be replayed). */
  #bodyStarted = false;
  /** The current attempt's stream was opened (its HEADERS went out). */
  #sent = false;
  #upEnded = false;
  #upTrailers: OutgoingHttpHeaders | undefined;
  #errTrailers: OutgoingHttpHeaders | undefined;
  #trailersSent = false;
  #failed = false;
  #rstPending = false;
  #plainReply = false;
  #finished = false;
  #refusals = 0;
  #deadlineAt = 0;
  #deadlineMs = 0;
  #headTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #rw: RewriteOut = { requestId: '', spanId: '', traceparent: '', hops: 0 };

  constructor(down: ServerHttp2Stream, o: H2ForwardOptions, peerIdentity: string | undefined, remoteAddress: string) {
    this.down = down;
    this.o = o;
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
    if (this.#rw.hops >= this.o.maxHops) {
      this.#fail(new ProxyError('loop_detected', `request has crossed ${this.#rw.hops} agents (limit ${this.o.maxHops})`));
      return;
    }
    if (runRequestFilters(this.o.filters, c) === Verdict.Reply) {
      this.#fail(c.error ?? new ProxyError('internal_error', 'filter replied without an error'));
      return;
    }
    const extra = c.addRequestHeaders;
    for (let i = 0; i < extra.length; i++) regular.push(extra[i]!);
    regular.push(HOPS_HEADER, String(this.#rw.hops + 1));
    if (c.peerIdentity !== undefined && this.o.direction === 'inbound') regular.push(PEER_IDENTITY_HEADER, c.peerIdentity);
    this.#out = upstreamRequestHeaders(head, regular);
    if (c.grpc) {
      const t = parseGrpcTimeout(headerValue(head.headers, 'grpc-timeout'));
      if (t !== undefined) {
        this.#deadlineMs = t;
        this.#deadlineAt = c.startedAt + t;
        this.#deadlineTimer = setTimeout(this.#onDeadline, Math.max(0, Math.ceil(t)));
      }
    }
    this.#noBody = down.endAfterHeaders;
    this.#attempt();
  }

  // === attempts ===

  #attempt(): void {
    const cl = this.o.cluster;
    const c = this.ctx;
    c.attempts++;
    const ep = cl.balancer.pick(c, this.#ep);
    if (ep === undefined) {
      this.#fail(new ProxyError('no_endpoints', `no available endpoint for ${cl.name}`));
      return;
    }
    this.#ep = ep;
    c.endpoint = ep;
    this.#attemptAt = performance.now();
    this.#sent = false;
    this.#upEnded = false;
    this.#upTrailers = undefined;
    this.#upErrCode = undefined;
    cl.attemptStarted(ep, c);
    this.#attemptCounted = true;
    this.o.sessions.acquire(ep, this.#onSession);
  }

  #onSession = (err: ProxyError | null, up: H2Upstream | null): void => {
    if (this.#failed || this.#finished) return;
    if (err !== null || up === null) { this.#attemptFailed(err ?? new ProxyError('upstream_connect_failed', 'no session')); return; }
    if (this.#deadlineAt > 0) this.#out['grpc-timeout'] = formatGrpcTimeout(this.#deadlineAt - performance.now());
    let s: ClientHttp2Stream;
    try {
      s = up.request(this.#out, { endStream: this.#noBody });
    } catch (e) {
      this.#attemptFailed(asProxyError(e, 'upstream_reset'));
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
    let timeout = this.o.cluster.timeouts.requestMs;
    if (this.#deadlineAt > 0) {
      const left = this.#deadlineAt - performance.now();
      if (timeout === 0 || left < timeout) timeout = 0; // the call deadline fires first
    }
    if (timeout > 0) this.#headTimer = setTimeout(this.#onHeadTimeout, timeout);
    if (!this.#noBody && !this.#piped) {
      this.#piped = true;
      this.down.on('data', this.#countIn);
      this.down.pipe(s);
    } else if (!this.#noBody) {
      // A retry before any body byte was read: move the pipe to the new stream.
      this.down.pipe(s);
    }
  };

  #countIn = (chunk: Buffer): void => {
    this.#bodyStarted = true;
    this.ctx.bytesIn += chunk.length;
  };

  #countOut = (chunk: Buffer): void => {
    this.ctx.bytesOut += chunk.length;
  };

  /** An attempt failed before any response byte went downstream: retry or answer. */
  #attemptFailed(err: ProxyError): void {
    const latency = performance.now() - this.#attemptAt;
    this.#dropUpstream();
    this.#endAttempt(false, 0, err.reason);
    if (this.#failed || this.#finished) return;
    const replayable = !this.#bodyStarted;
    const cl = this.o.cluster;
    const delay = !this.down.headersSent && replayable
      ? cl.retry.next(this.ctx, { ok: false, status: 0, reason: err.reason, latencyMs: latency }, { requestBytesSent: this.#sent, replayable })
      : -1;
    if (delay >= 0) {
      cl.retry.onRetry?.(this.ctx);
      if (delay === 0) this.#attempt();
      else this.#retryTimer = setTimeout(() => { this.#retryTimer = undefined; if (!this.#failed && !this.#finished) this.#attempt(); }, delay);
      return;
    }
    this.#fail(err);
  }

  #endAttempt(ok: boolean, status: number, reason?: Reason): void {
    if (!this.#attemptCounted || this.#ep === undefined) return;
    this.#attemptCounted = false;
    this.o.cluster.attemptEnded(this.#ep, this.ctx, { ok, status, reason, latencyMs: performance.now() - this.#attemptAt });
  }

  #onHeadTimeout = (): void => {
    this.#headTimer = undefined;
    if (!this.down.headersSent) this.#attemptFailed(new ProxyError('upstream_timeout', `no response head within ${this.o.cluster.timeouts.requestMs} ms`));
  };

  #onDeadline = (): void => {
    this.#deadlineTimer = undefined;
    this.#fail(new ProxyError('upstream_timeout', `grpc-timeout of ${Math.round(this.#deadlineMs)} ms exceeded`));
  };

  #onIdle = (): void => {
    this.#fail(new ProxyError('upstream_timeout', `no bytes either way for ${this.o.streamIdleMs} ms`));
  };

  // === upstream stream events (each checks it still belongs to the current attempt) ===

  #onUpInfo = (h: IncomingHttpHeaders): void => {
    const status = Number(h[':status']);
    if (status >= 100 && status < 200 && status !== 101 && !this.down.headersSent) {
      try { this.down.additionalHeaders(downstreamHeaders(h, true)); } catch { /* stream went away */ }
    }
  };

  #onUpResponse = (h: IncomingHttpHeaders, flags: number): void => {
    if (this.#failed || this.#finished) return;
    if (this.#headTimer !== undefined) { clearTimeout(this.#headTimer); this.#headTimer = undefined; }
    const c = this.ctx;
    const status = Number(h[':status']);
    const trailersOnly = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    c.status = status;
    const grpcStatus = h['grpc-status'];
    this.#endAttempt(status < 500 && !(trailersOnly && typeof grpcStatus === 'string' && GRPC_ENDPOINT_FAILURE.has(grpcStatus)), status);
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
    if (trailersOnly) { this.#trailersSent = true; return; }
    const s = this.#up!;
    s.on('data', this.#countOut);
    s.pipe(this.down);
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
      if (refused && !this.#bodyStarted && this.#refusals < 2) {
        // The upstream did not process the stream (GOAWAY race or refused): safe to re-send as is.
        this.#refusals++;
        this.#dropUpstream();
        this.#endAttempt(false, 0, 'upstream_reset');
        this.ctx.attempts--;
        this.#attempt();
        return;
      }
      this.#attemptFailed(new ProxyError('upstream_reset', `upstream closed the stream before the response head (${codeName(code)})`));
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
    this.#endAttempt(false, 0, 'downstream_reset');
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
    this.#endAttempt(false, 0, err.reason);
    c.reason = err.reason;
    const log = err.reason === 'downstream_reset' ? this.o.log.debug : this.o.log.warn;
    log.call(this.o.log, { reason: err.reason, detail: err.detail, listener: this.o.listener, upstream: this.o.cluster.name, protocol: 'h2', grpc: c.grpc || undefined,
      endpoint: c.endpoint?.key, request_id: c.requestId || undefined, method: c.method || undefined, path: c.target || undefined }, 'request failed');
    if (down.destroyed || down.closed) { this.#finish(); return; }
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
    if (down.readableEnded || this.#noBody || this.#rstPending) return;
    this.#rstPending = true;
    if (this.#trailersSent) this.#rstSoon();
    else if (this.#plainReply) down.once('finish', this.#rstSoon);
    // else: #onWantTrailers sends the trailers, then calls #rstSoon.
  }

  #rstSoon = (): void => {
    // After Node's own setImmediate that submits the trailers.
    setImmediate(() => { if (!this.down.closed && !this.down.destroyed) this.down.close(NGHTTP2_NO_ERROR); });
  };

  #dropUpstream(): void {
    const s = this.#up;
    if (s === null) return;
    this.#up = null;
    s.unpipe(this.down);
    this.down.unpipe(s);
    s.removeListener('data', this.#countOut);
    if (!s.closed && !s.destroyed) s.close(NGHTTP2_CANCEL);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#clearTimers();
    runDoneFilters(this.o.filters, this.ctx);
  }

  #clearTimers(): void {
    if (this.#headTimer !== undefined) { clearTimeout(this.#headTimer); this.#headTimer = undefined; }
    if (this.#deadlineTimer !== undefined) { clearTimeout(this.#deadlineTimer); this.#deadlineTimer = undefined; }
    if (this.#retryTimer !== undefined) { clearTimeout(this.#retryTimer); this.#retryTimer = undefined; }
  }
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
