/**
 * The attempt loop of one exchange: pick an endpoint, open the attempt, time
 * it, and after a failure decide between a retry and the answer. Shared by
 * the HTTP/1 connection (one loop per connection, reused by each exchange)
 * and the HTTP/2 exchange (one per stream), which differ only in what an
 * attempt opens (a pooled socket, a stream on a session): that is the host.
 *
 *   attempt ─ fault abort? ─────────────────────────────► failed
 *           ─ fault delay? (timer runs during it) ─┐
 *           ─ pick endpoint ◄──────────────────────┘
 *             none ──► host.fail(no_endpoints)
 *             host.open(ep, seq) ── callback: current(seq)?
 *   failed ─ drop the upstream, end the attempt, ask the decider:
 *            delay >= 0 and the body can be replayed ──► attempt (now or after delay)
 *            otherwise ──► host.fail(err)   (the one failure path)
 *
 * Every attempt is reported to the cluster (attemptStarted / attemptEnded,
 * exactly once each), which feeds the balancer, the breakers, outlier
 * ejection and the retry budget. Faults run inside the loop, so the retry and
 * timeout policies can absorb them. The attempt timer is the per-try timeout
 * capped by the request deadline; one Timeout serves the loop's life, re-armed
 * with refresh() when the next attempt wants the same length (the usual case):
 * a disarmed timer that fires finds `#armed` false and does nothing.
 */
import { ProxyError, type Reason } from '../core/errors.ts';
import type { RequestCtx } from '../core/filter.ts';
import type { Endpoint } from '../balancer/endpoint.ts';
import type { Cluster, RetryDecider } from './cluster.ts';
import type { RoutePolicy } from '../resilience/upstream.ts';
import { attemptDeadline } from '../resilience/timeout/deadline.ts';

/** What the loop asks of the protocol that runs it. */
export interface AttemptHost {
  /** Open the attempt on `ep` (acquire a socket, open a stream); its callback checks `loop.current(seq)`. */
  openAttempt(ep: Endpoint, seq: number): void;
  /** Cancel the current attempt's upstream side, if any. */
  dropAttempt(): void;
  /** The exchange's one failure path: a local answer, or an abort once the response started. */
  fail(err: ProxyError): void;
  /** An injected delay starts (HTTP/1 stops reading the client meanwhile). */
  delayed(): void;
  /** A retry was decided: forget the failed attempt's response and sent-bytes state. */
  retrying(): void;
  /** The exchange is live and no response byte went downstream: a retry is still possible. */
  readonly retryable: boolean;
  /** Every request body byte seen so far is still held for a replay. */
  readonly replayable: boolean;
  /** Request bytes reached the upstream in the current attempt. */
  readonly requestSent: boolean;
  /** The exchange is over (closed, failed or finished): late timers do nothing. */
  readonly over: boolean;
}

export class AttemptLoop {
  readonly #host: AttemptHost;
  readonly #cluster: Cluster;
  #ctx!: RequestCtx;
  #route: RoutePolicy | undefined;
  #decider: RetryDecider;
  /** The request deadline (performance.now() ms; Infinity = none). */
  #deadline = Infinity;
  #ep: Endpoint | undefined;
  #startedAt = 0;
  /** The current attempt was reported to the cluster and not yet ended. */
  #counted = false;
  /** Attempt sequence: late callbacks of an abandoned attempt are recognised and dropped. */
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerMs = 0;
  #armed = false;
  /** The armed timer ends at the request deadline (not at the per-try timeout). */
  #armedToDeadline = false;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(host: AttemptHost, cluster: Cluster) {
    this.#host = host;
    this.#cluster = cluster;
    this.#decider = cluster.retry;
  }

  /** A new exchange: its context, route (from the filters) and deadline. */
  begin(ctx: RequestCtx, deadline: number): void {
    this.#ctx = ctx;
    this.#route = ctx.route as RoutePolicy | undefined;
    this.#decider = this.#route?.retry ?? this.#cluster.retry;
    this.#deadline = deadline;
    this.#ep = undefined;
  }

  /** The endpoint of the current (or last) attempt. */
  get endpoint(): Endpoint | undefined { return this.#ep; }
  /** Is `seq` the attempt still waiting for its connection or stream? */
  current(seq: number): boolean { return seq === this.#seq && this.#counted; }

  /** Start an attempt (the first, or a retry). */
  attempt(): void {
    this.#ctx.attempts++;
    const fault = this.#route?.fault;
    if (fault !== undefined) {
      const abort = fault.abort();
      if (abort !== undefined) {
        this.failed(abort, abort.reset ? 0 : abort.status);
        return;
      }
      const delay = fault.delayMs();
      if (delay > 0) {
        // The delay is part of the attempt: its per-try and request timeouts run during it
        // (a timeout here cancels the delay in failed()).
        this.#arm();
        this.#host.delayed();
        this.#retryTimer = setTimeout(this.#afterDelay, delay);
        return;
      }
    }
    this.#pickAndOpen();
  }

  #afterDelay = (): void => {
    this.#retryTimer = undefined;
    if (!this.#host.over) this.#pickAndOpen();
  };

  #afterBackoff = (): void => {
    this.#retryTimer = undefined;
    if (!this.#host.over) this.attempt();
  };

  #pickAndOpen(): void {
    const cl = this.#cluster;
    const c = this.#ctx;
    const ep = cl.balancer.pick(c, this.#ep);
    if (ep === undefined) {
      this.#host.fail(new ProxyError('no_endpoints', `no available endpoint for ${cl.name}`));
      return;
    }
    this.#ep = ep;
    c.endpoint = ep;
    this.#startedAt = performance.now();
    cl.attemptStarted(ep, c);
    this.#counted = true;
    if (!this.#armed) this.#arm();
    this.#host.openAttempt(ep, ++this.#seq);
  }

  /** The attempt's timer: its per-try timeout, capped by the request deadline. */
  #arm(): void {
    const now = performance.now();
    const until = attemptDeadline(now, this.#deadline, this.#route !== undefined ? this.#route.timeouts.perTryMs : 0);
    if (until === Infinity) return;
    const ms = Math.max(1, Math.ceil(until - now));
    this.#armed = true;
    this.#armedToDeadline = until === this.#deadline;
    if (this.#timer !== undefined && ms === this.#timerMs) { this.#timer.refresh(); return; }
    clearTimeout(this.#timer);
    this.#timerMs = ms;
    this.#timer = setTimeout(this.#onTimeout, ms);
    this.#timer.unref(); // the sockets keep the process alive, not this timer
  }

  #onTimeout = (): void => {
    if (!this.#armed) return;
    this.#armed = false;
    // Which bound armed the timer, not the clock now: a timer may fire a little before its time.
    this.failed(new ProxyError('upstream_timeout', this.#armedToDeadline ? 'no response head before the request deadline'
      : `no response head within the per-try timeout (${this.#route?.timeouts.perTryMs} ms)`));
  };

  /** A response head arrived (or the exchange ended): the attempt timer stops. */
  disarm(): void {
    this.#armed = false;
  }

  /**
   * A final response head from the upstream: the attempt ends with it. A retryable answer
   * (the route's statuses or gRPC codes) is dropped and retried when the decider says so:
   * returns true then, and the host must not use the response.
   */
  responded(status: number, ok: boolean, retryAfter: string | undefined, grpcStatus = -1): boolean {
    this.#armed = false;
    // Report the end before the retry decision: the active-retry unit the decision takes is
    // then held until the retry's own attempt ends, not given back by this one's end.
    this.end(ok, status);
    if ((status < 400 && grpcStatus <= 0) || this.#route === undefined || !this.#host.replayable) return false;
    const probe = this.#decider.next(this.#ctx, { ok: false, status, reason: undefined, latencyMs: performance.now() - this.#startedAt },
      { requestBytesSent: true, replayable: true, retryAfter, grpcStatus, deadline: this.#deadline });
    if (probe < 0) return false;
    this.failed(new ProxyError(status >= 500 || grpcStatus > 0 ? 'upstream_reset' : 'bad_request',
      `upstream answered ${status}${grpcStatus > 0 ? ` grpc-status ${grpcStatus}` : ''}`), status, retryAfter, probe, grpcStatus);
    return true;
  }

  /**
   * An attempt failed before any response byte went downstream: retry or answer.
   * `decided`: the decision when the caller already asked the decider (responded()).
   */
  failed(err: ProxyError, status = 0, retryAfter?: string, decided?: number, grpcStatus = -1): void {
    const latency = performance.now() - this.#startedAt;
    this.#armed = false;
    // An attempt that timed out during an injected delay: the delay must not start a second attempt.
    this.#clearRetryTimer();
    const host = this.#host;
    host.dropAttempt();
    this.end(false, status, err.reason);
    if (host.over) { host.fail(err); return; }
    const replayable = host.replayable;
    const delay = decided !== undefined ? decided : host.retryable
      ? this.#decider.next(this.#ctx, { ok: false, status, reason: err.reason, latencyMs: latency },
        { requestBytesSent: host.requestSent, replayable, retryAfter, grpcStatus, deadline: this.#deadline })
      : -1;
    if (delay >= 0 && replayable) {
      this.#decider.onRetry?.(this.#ctx);
      host.retrying();
      if (delay === 0) this.attempt();
      else this.#retryTimer = setTimeout(this.#afterBackoff, delay);
      return;
    }
    host.fail(err);
  }

  /**
   * The upstream did not process the request (a stale pooled connection, a refused stream):
   * send it again on another connection; this does not count as an attempt.
   */
  resend(reason: Reason): void {
    this.#armed = false;
    this.#host.dropAttempt();
    this.end(false, 0, reason);
    this.#ctx.attempts--;
    this.attempt();
  }

  /** Report the current attempt's end to the cluster (once; later calls do nothing). */
  end(ok: boolean, status: number, reason?: Reason): void {
    if (!this.#counted || this.#ep === undefined) return;
    this.#counted = false;
    this.#cluster.attemptEnded(this.#ep, this.#ctx, { ok, status, reason, latencyMs: performance.now() - this.#startedAt });
  }

  /** The exchange is over: no attempt timer, no pending retry. */
  stop(): void {
    this.#armed = false;
    this.#clearRetryTimer();
  }

  /** The loop's owner is gone for good: release the timer too. */
  dispose(): void {
    this.stop();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #clearRetryTimer(): void {
    if (this.#retryTimer !== undefined) { clearTimeout(this.#retryTimer); this.#retryTimer = undefined; }
  }
}
