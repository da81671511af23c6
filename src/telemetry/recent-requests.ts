/**
 * A bounded ring of recent requests, for admin `/explain?request_id=`: the
 * attempts each request made, the endpoints tried, why each failed, and the
 * final outcome.
 *
 * It is both an AttemptObserver (add it to every cluster's observers: it
 * sees each attempt's endpoint and result) and a Filter (add it to every
 * stack: its onDone closes the record). Bounds: `capacity` records (default
 * 1,000; the oldest is overwritten) and `maxAttempts` attempts per record
 * (default 8; more are counted, not kept).
 *
 * Cost on the hot path is a few field writes: attempts collect into a
 * per-context scratch record (the RequestCtx of an HTTP/1 connection is
 * reused, so that is one allocation per connection, not per request), and
 * onDone copies raw values (monotonic times, the request target) into a
 * reused ring slot. There is no index by id: a lookup scans the ring (at
 * most `capacity` string compares, admin time only), and wall-clock times,
 * query-less paths and rounding are computed then. A request without an id
 * (inbound without x-request-id, opaque TCP) cannot be looked up and is not
 * recorded.
 *
 * Retry decisions are not visible to observers; a router that knows why it
 * did not retry can say so with `noteRetryDecision(ctx, 'budget_exhausted')`.
 */
import type { Reason } from '../core/errors.ts';
import type { Filter, RequestCtx } from '../core/filter.ts';
import type { Endpoint } from '../balancer/endpoint.ts';
import type { AttemptObserver, AttemptResult } from '../balancer/types.ts';

export interface AttemptRecord {
  endpoint: string;
  ok: boolean;
  /** HTTP status of the attempt (0 = no response head). */
  status: number;
  reason: Reason | undefined;
  latencyMs: number;
}

export interface RequestRecord {
  requestId: string;
  /** Date.now() when the request head arrived. */
  at: number;
  direction: string;
  listener: string;
  upstream: string;
  method: string;
  /** Path without the query string, cut at 256 characters. */
  path: string;
  status: number;
  reason: Reason | undefined;
  durationMs: number;
  /** Route name from ctx.route when a route filter set one. */
  route: string | undefined;
  spanId: string;
  attempts: AttemptRecord[];
  /** Attempts made (may exceed attempts.length). */
  attemptsMade: number;
  /** The last retry decision a router reported ('budget_exhausted', 'attempts_exhausted', ...). */
  retryDecision: string | undefined;
}

interface Scratch {
  startedAt: number;
  attempts: AttemptRecord[];
  n: number;
  made: number;
  retryDecision: string | undefined;
}

const blankAttempt = (): AttemptRecord => ({ endpoint: '', ok: false, status: 0, reason: undefined, latencyMs: 0 });

export interface RecentRequestsOptions {
  readonly capacity?: number;
  readonly maxAttempts?: number;
}

/** A ring slot: raw values, normalised into a RequestRecord on lookup. */
interface Slot {
  requestId: string;
  startedAt: number;
  doneAt: number;
  direction: string;
  listener: string;
  upstream: string;
  method: string;
  target: string;
  status: number;
  reason: Reason | undefined;
  route: unknown;
  spanId: string;
  attempts: AttemptRecord[];
  n: number;
  made: number;
  retryDecision: string | undefined;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export class RecentRequests implements AttemptObserver, Filter {
  readonly name = 'recent_requests';
  readonly capacity: number;
  readonly maxAttempts: number;
  readonly #ring: Slot[] = [];
  readonly #scratch = new WeakMap<RequestCtx, Scratch>();
  /** Date.now() − performance.now(), to turn monotonic times into wall-clock ones on lookup. */
  readonly #wallOffset = Date.now() - performance.now();
  #next = 0;

  constructor(o: RecentRequestsOptions = {}) {
    this.capacity = o.capacity ?? 1000;
    this.maxAttempts = o.maxAttempts ?? 8;
    if (!(Number.isInteger(this.capacity) && this.capacity >= 1)) throw new RangeError('recent requests capacity must be an integer >= 1');
    if (!(Number.isInteger(this.maxAttempts) && this.maxAttempts >= 1)) throw new RangeError('recent requests maxAttempts must be an integer >= 1');
  }

  // === AttemptObserver ===

  onAttemptEnd(ep: Endpoint, ctx: RequestCtx, result: AttemptResult): void {
    if (ctx.requestId === '') return;
    const s = this.#scratchOf(ctx);
    s.made++;
    if (s.n >= this.maxAttempts) return;
    const a = s.attempts[s.n] ?? (s.attempts[s.n] = blankAttempt());
    a.endpoint = ep.key;
    a.ok = result.ok;
    a.status = result.status;
    a.reason = result.reason;
    a.latencyMs = result.latencyMs;
    s.n++;
  }

  /** A router reports why it stopped retrying (or 'retry'). Optional. */
  noteRetryDecision(ctx: RequestCtx, decision: string): void {
    if (ctx.requestId === '') return;
    this.#scratchOf(ctx).retryDecision = decision;
  }

  // === Filter ===

  onRequest(): 0 {
    return 0;
  }

  onDone(ctx: RequestCtx): void {
    if (ctx.requestId === '' || ctx.protocol === 'tcp') return;
    const r = this.#claim();
    r.requestId = ctx.requestId;
    r.startedAt = ctx.startedAt;
    r.doneAt = performance.now();
    r.direction = ctx.direction;
    r.listener = ctx.listener;
    r.upstream = ctx.upstream;
    r.method = ctx.method;
    r.target = ctx.target;
    r.status = ctx.status;
    r.reason = ctx.reason;
    r.route = ctx.route;
    r.spanId = ctx.spanId;
    const s = this.#scratch.get(ctx);
    if (s !== undefined && s.startedAt === ctx.startedAt) {
      // Copy into the slot's own attempt objects (reused: no allocation once warm).
      const dst = r.attempts;
      for (let i = 0; i < s.n; i++) {
        const a = s.attempts[i]!;
        const d = dst[i] ?? (dst[i] = blankAttempt());
        d.endpoint = a.endpoint; d.ok = a.ok; d.status = a.status; d.reason = a.reason; d.latencyMs = a.latencyMs;
      }
      r.n = s.n;
      r.made = s.made;
      r.retryDecision = s.retryDecision;
      s.startedAt = -1; // consumed: the next request on this ctx starts clean
    } else {
      r.n = 0;
      r.made = 0;
      r.retryDecision = undefined;
    }
  }

  // === lookup (admin time) ===

  /** The newest record of `requestId`. */
  get(requestId: string): RequestRecord | undefined {
    const n = this.#ring.length;
    for (let k = 1; k <= n; k++) {
      const r = this.#ring[(this.#next - k + n) % n]!;
      if (r.requestId === requestId) return this.#record(r);
    }
    return undefined;
  }

  /** Newest first. */
  recent(limit = 20): RequestRecord[] {
    const out: RequestRecord[] = [];
    const n = this.#ring.length;
    for (let k = 1; k <= n && out.length < limit; k++) out.push(this.#record(this.#ring[(this.#next - k + n) % n]!));
    return out;
  }

  get size(): number {
    return this.#ring.length;
  }

  #record(r: Slot): RequestRecord {
    const q = r.target.indexOf('?');
    const path = q < 0 ? r.target : r.target.slice(0, q);
    const route = r.route as { name?: unknown } | undefined;
    return {
      requestId: r.requestId,
      at: Math.round(this.#wallOffset + r.startedAt),
      direction: r.direction, listener: r.listener, upstream: r.upstream, method: r.method,
      path: path.length > 256 ? path.slice(0, 256) : path,
      status: r.status, reason: r.reason,
      durationMs: round3(r.doneAt - r.startedAt),
      route: typeof route?.name === 'string' ? route.name : undefined,
      spanId: r.spanId,
      attempts: r.attempts.slice(0, r.n).map((a) => ({ ...a, latencyMs: round3(a.latencyMs) })),
      attemptsMade: r.made,
      retryDecision: r.retryDecision,
    };
  }

  #scratchOf(ctx: RequestCtx): Scratch {
    let s = this.#scratch.get(ctx);
    if (s === undefined) {
      s = { startedAt: ctx.startedAt, attempts: [], n: 0, made: 0, retryDecision: undefined };
      this.#scratch.set(ctx, s);
    } else if (s.startedAt !== ctx.startedAt) {
      s.startedAt = ctx.startedAt;
      s.n = 0;
      s.made = 0;
      s.retryDecision = undefined;
    }
    return s;
  }

  /** The next ring slot (the oldest once the ring is full). */
  #claim(): Slot {
    let r: Slot;
    if (this.#ring.length < this.capacity) {
      r = { requestId: '', startedAt: 0, doneAt: 0, direction: '', listener: '', upstream: '', method: '', target: '', status: 0, reason: undefined,
        route: undefined, spanId: '', attempts: [], n: 0, made: 0, retryDecision: undefined };
      this.#ring.push(r);
    } else {
      r = this.#ring[this.#next]!;
    }
    this.#next = (this.#next + 1) % this.capacity;
    return r;
  }
}
