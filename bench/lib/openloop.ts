/**
 * A wrk2-style open-loop load generator on undici: request i is sent at its
 * scheduled time (schedule.ts) whether or not earlier requests have returned,
 * and its latency is counted from that scheduled time to the last body byte.
 * A target that stalls therefore pays for every request it held up
 * (coordinated omission corrected), instead of the generator politely waiting.
 * Requests beyond the pool's connections queue inside undici, on the clock.
 *
 * Pacing without spinning: a 1 ms timer (Node's floor, ~1.1 ms in practice)
 * plus a check after every response, so at high rates requests leave within a
 * fraction of a millisecond of their slot. The residual lag (dispatch − slot)
 * is reported as `sendLag`, and `service` is latency from the actual dispatch,
 * so the generator's own floor is visible next to the headline figure.
 * Requests go through `Pool.dispatch` with one small handler object each (no
 * Readable per response), to keep the generator's CPU share low on 2 cores.
 * The schedule and bookkeeping (runOpenLoopWith, Phase) are shared with the
 * gRPC generator (grpc-openloop.ts), which only sends differently.
 */
import { Pool, type Dispatcher } from 'undici';
import { summarize, type LatencySummary } from './percentiles.ts';
import { OpenLoopSchedule } from './schedule.ts';

export interface OpenLoopOptions {
  readonly path: string;
  readonly rate: number;
  readonly durationMs: number;
  /** Body length every response must have; others count as errors. */
  readonly expectBytes: number;
  /** How long to wait for stragglers after the last scheduled send. */
  readonly drainMs: number;
}

export interface OpenLoopResult {
  readonly rate: number;
  readonly durationMs: number;
  readonly scheduled: number;
  readonly ok: number;
  readonly errors: number;
  /** Still outstanding at the drain deadline; counted in latency as a lower bound (deadline − scheduled). */
  readonly timeouts: number;
  /** Successful responses per second of wall time from first send to last response. */
  readonly achievedRps: number;
  /** Milliseconds, from scheduled send to last body byte (the headline, coordinated omission corrected). */
  readonly latency: LatencySummary;
  /** Milliseconds, from the actual dispatch to last body byte (successful requests only). */
  readonly service: LatencySummary;
  /** Milliseconds the generator dispatched each request after its slot. */
  readonly sendLag: LatencySummary;
  readonly firstError?: string;
}

/** A keep-alive client pool for one target; reuse it across the phases of a scenario, then close it. */
export function openLoopClient(origin: string, connections = 32): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
}

/** Something in flight that can be cut off when a phase ends (an undici controller, an h2 stream). */
export interface Abortable {
  abort(reason: Error): void;
}

/**
 * Bookkeeping of one phase, shared by its requests. A sender (HTTP/1 below,
 * gRPC in grpc-openloop.ts) reports each request once through `succeed` or
 * `fail`, then `settle`.
 */
export class Phase {
  readonly sched: OpenLoopSchedule;
  readonly t0 = performance.now();
  readonly lat: Float64Array;
  readonly svc: Float64Array;
  readonly lag: Float64Array;
  readonly settled: Uint8Array;
  readonly live = new Set<Abortable>();
  samples = 0;
  svcN = 0;
  ok = 0;
  errors = 0;
  outstanding = 0;
  lastDone = 0;
  finished = false;
  firstError: string | undefined;
  onSettled: () => void = () => {};

  readonly o: OpenLoopOptions;

  constructor(o: OpenLoopOptions) {
    this.o = o;
    this.sched = new OpenLoopSchedule(o.rate, o.durationMs);
    this.lat = new Float64Array(this.sched.total);
    this.svc = new Float64Array(this.sched.total);
    this.lag = new Float64Array(this.sched.total);
    this.settled = new Uint8Array(this.sched.total);
  }

  /** A good response ended now: latency from its slot, service time from its dispatch. */
  succeed(slot: number, sentAt: number): void {
    if (this.finished) return;
    const now = performance.now();
    this.lastDone = now;
    this.ok++;
    this.lat[this.samples++] = now - slot;
    this.svc[this.svcN++] = now - sentAt;
  }

  fail(msg: string): void {
    if (this.finished) return;
    this.errors++;
    this.firstError ??= msg;
  }

  /** Request i is over (after succeed or fail); `handle` leaves the live set. */
  settle(i: number, handle: Abortable | undefined): void {
    if (handle) this.live.delete(handle);
    this.settled[i] = 1;
    this.outstanding--;
    this.onSettled();
  }
}

/** One request's handler (undici's v8 dispatch handler shape). */
class Req implements Dispatcher.DispatchHandler {
  status = 0;
  bytes = 0;
  ctrl: Dispatcher.DispatchController | undefined;

  readonly p: Phase;
  readonly i: number;
  /** Scheduled send time (performance.now() clock). */
  readonly slot: number;
  readonly sentAt: number;

  constructor(p: Phase, i: number, slot: number, sentAt: number) {
    this.p = p;
    this.i = i;
    this.slot = slot;
    this.sentAt = sentAt;
  }

  onRequestStart(ctrl: Dispatcher.DispatchController): void {
    this.ctrl = ctrl;
    this.p.live.add(ctrl);
  }
  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytes += chunk.length;
  }
  onResponseEnd(): void {
    const p = this.p;
    if (this.status === 200 && this.bytes === p.o.expectBytes) p.succeed(this.slot, this.sentAt);
    else p.fail(`status ${this.status}, ${this.bytes} body bytes (expected 200, ${p.o.expectBytes})`);
    p.settle(this.i, this.ctrl);
  }
  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.p.fail(err.message);
    this.p.settle(this.i, this.ctrl);
  }
}

/** Sends request i of phase p, scheduled at `slot`, now (`sentAt`); reports back through p. */
export type Send = (p: Phase, i: number, slot: number, sentAt: number) => void;

/** An open-loop HTTP/1.1 GET phase through an undici pool. */
export function runOpenLoop(pool: Pool, o: OpenLoopOptions): Promise<OpenLoopResult> {
  const opts = { path: o.path, method: 'GET' } as const;
  return runOpenLoopWith(o, (p, i, slot, now) => void pool.dispatch(opts, new Req(p, i, slot, now)));
}

/** The schedule, pacing and summary of one phase, whatever sends the requests. */
export function runOpenLoopWith(o: OpenLoopOptions, send: Send): Promise<OpenLoopResult> {
  const p = new Phase(o);
  const { sched, t0 } = p;
  let sent = 0;
  let scheduling = true;

  return new Promise<OpenLoopResult>((resolve) => {
    const finish = (): void => {
      if (p.finished) return;
      p.finished = true;
      clearTimeout(drainTimer);
      const now = performance.now();
      const timeouts = p.outstanding;
      for (let i = 0; timeouts && i < sent; i++) if (!p.settled[i]) p.lat[p.samples++] = now - (t0 + sched.sendTime(i));
      for (const c of p.live) c.abort(new Error('open-loop phase over'));
      const wallSec = ((p.ok ? p.lastDone : now) - t0) / 1000;
      resolve({
        rate: o.rate, durationMs: o.durationMs, scheduled: sched.total, ok: p.ok, errors: p.errors, timeouts,
        achievedRps: wallSec > 0 ? p.ok / wallSec : 0,
        latency: summarize(p.lat.subarray(0, p.samples)),
        service: summarize(p.svc.subarray(0, p.svcN)),
        sendLag: summarize(p.lag.subarray(0, sent)),
        ...(p.firstError ? { firstError: p.firstError } : {}),
      });
    };
    const drainTimer = setTimeout(finish, o.durationMs + o.drainMs);
    const dispatch = (): void => {
      const now = performance.now();
      const due = sched.due(now - t0);
      while (sent < due) {
        const i = sent++;
        const slot = t0 + sched.sendTime(i);
        p.lag[i] = now - slot;
        p.outstanding++;
        send(p, i, slot, now);
      }
    };
    p.onSettled = () => {
      if (scheduling) dispatch();
      else if (p.outstanding === 0) finish();
    };
    const tick = (): void => {
      if (p.finished) return;
      dispatch();
      if (sent < sched.total) setTimeout(tick, 1);
      else {
        scheduling = false;
        if (p.outstanding === 0) finish();
      }
    };
    tick();
  });
}
