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
 * Cost on the hot path: attempts collect into a per-context scratch record
 * (the RequestCtx of an HTTP/1 connection is reused, so that is one
 * allocation per connection, not per request), and onDone copies it into a
 * preallocated ring slot. A request without an id (inbound without
 * x-request-id, opaque TCP) cannot be looked up and is not recorded.
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
  readonly now?: () => number;
}

export class RecentRequests implements AttemptObserver, Filter {
  readonly name = 'recent_requests';
  readonly capacity: number;
  readonly maxAttempts: number;
  readonly #ring: RequestRecord[] = [];
  readonly #byId = new Map<string, RequestRecord>();
  readonly #scratch = new WeakMap<RequestCtx, Scratch>();
  readonly #now: () => number;
  #next = 0;

  constructor(o: RecentRequestsOptions = {}) {
    this.capacity = o.capacity ?? 1000;
    this.maxAttempts = o.maxAttempts ?? 8;
    if (!(Number.isInteger(this.capacity) && this.capacity >= 1)) throw new RangeError('recent requests capacity must be an integer >= 1');
    if (!(Number.isInteger(this.maxAttempts) && this.maxAttempts >= 1)) throw new RangeError('recent requests maxAttempts must be an integer >= 1');
    this.#now = o.now ?? Date.now;
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
    a.latencyMs = Math.round(result.latencyMs * 1000) / 1000;
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
    const s = this.#scratch.get(ctx);
    const fresh = s !== undefined && s.startedAt === ctx.startedAt;
    const r = this.#claim(ctx.requestId);
    r.at = this.#now() - (performance.now() - ctx.startedAt);
    r.direction = ctx.direction;
    r.listener = ctx.listener;
    r.upstream = ctx.upstream;
    r.method = ctx.method;
    const q = ctx.target.indexOf('?');
    const path = q < 0 ? ctx.target : ctx.target.slice(0, q);
    r.path = path.length > 256 ? path.slice(0, 256) : path;
    r.status = ctx.status;
    r.reason = ctx.reason;
    r.durationMs = Math.round((performance.now() - ctx.startedAt) * 1000) / 1000;
    const route = ctx.route as { name?: unknown } | undefined;
    r.route = typeof route?.name === 'string' ? route.name : undefined;
    r.spanId = ctx.spanId;
    if (fresh) {
      // Copy into the slot's own attempt objects (reused: no allocation once warm).
      const dst = r.attempts;
      for (let i = 0; i < s.n; i++) {
        const a = s.attempts[i]!;
        const d = dst[i] ?? (dst[i] = blankAttempt());
        d.endpoint = a.endpoint; d.ok = a.ok; d.status = a.status; d.reason = a.reason; d.latencyMs = a.latencyMs;
      }
      dst.length = s.n;
      r.attemptsMade = s.made;
      r.retryDecision = s.retryDecision;
      s.startedAt = -1; // consumed: the next request on this ctx starts clean
    } else {
      r.attempts.length = 0;
      r.attemptsMade = 0;
      r.retryDecision = undefined;
    }
  }

  // === lookup ===

  get(requestId: string): RequestRecord | undefined {
    return this.#byId.get(requestId);
  }

  /** Newest first. */
  recent(limit = 20): RequestRecord[] {
    const out: RequestRecord[] = [];
    const n = this.#ring.length;
    for (let k = 1; k <= n && out.length < limit; k++) out.push(this.#ring[(this.#next - k + n) % n]!);
    return out;
  }

  get size(): number {
    return this.#ring.length;
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

  /** The next ring slot, re-indexed under `requestId`. */
  #claim(requestId: string): RequestRecord {
    let r: RequestRecord;
    if (this.#ring.length < this.capacity) {
      r = { requestId, at: 0, direction: '', listener: '', upstream: '', method: '', path: '', status: 0, reason: undefined, durationMs: 0,
        route: undefined, spanId: '', attempts: [], attemptsMade: 0, retryDecision: undefined };
      this.#ring.push(r);
    } else {
      r = this.#ring[this.#next]!;
      if (this.#byId.get(r.requestId) === r) this.#byId.delete(r.requestId);
      r.requestId = requestId;
    }
    this.#next = (this.#next + 1) % this.capacity;
    this.#byId.set(requestId, r);
    return r;
  }
}
