/**
 * The overload manager (Envoy's overload manager, in small): one per agent,
 * it decides whether the process is overloaded and the listeners shed load
 * while it is.
 *
 * Triggers (each off at 0):
 *   heap         V8 heap in use ≥ `heapFraction` of the heap limit, sampled
 *                every `checkIntervalMs`; it clears below
 *                `heapFraction − 0.05` (hysteresis, so it does not flap);
 *   connections  downstream connections open across all listeners
 *                > `maxConnections`, read live (it clears as soon as
 *                connections close).
 *
 * Actions while overloaded: an HTTP/1 request is answered `503` with reason
 * `overloaded`, `Retry-After: <retryAfter in s>` and `connection: close`
 * (the connection closes, which releases its memory); an opaque TCP
 * connection accepted meanwhile is closed at once. Nothing already proxying
 * is cut. One log line per transition (warn on entering, info on leaving),
 * and counters for `/metrics`-side readers (`stats`).
 */
import { getHeapStatistics } from 'node:v8';
import { ProxyError } from '../core/errors.ts';
import type { Logger } from '../telemetry/log.ts';

export interface OverloadOptions {
  /** Fraction (0–1] of the V8 heap limit; 0 = no heap trigger. */
  readonly heapFraction: number;
  /** Downstream connections across all listeners; 0 = no connection trigger. */
  readonly maxConnections: number;
  /** Retry-After sent with each 503, ms (rounded up to whole seconds). */
  readonly retryAfterMs: number;
  /** How often the heap is sampled, ms. */
  readonly checkIntervalMs: number;
}

export interface OverloadProbes {
  /** Heap in use as a fraction of the limit. */
  heapUsedFraction(): number;
  /** Downstream connections open now. */
  connections(): number;
}

export type OverloadTrigger = 'heap' | 'connections';

/** Hysteresis below the heap threshold before the heap trigger clears. */
const HEAP_CLEAR_MARGIN = 0.05;

export function v8HeapUsedFraction(): number {
  const h = getHeapStatistics();
  return h.used_heap_size / h.heap_size_limit;
}

export class OverloadManager {
  readonly o: OverloadOptions;
  readonly #probes: OverloadProbes;
  readonly #log: Logger;
  #heapOver = false;
  #lastTrigger: OverloadTrigger | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #error: ProxyError;
  /** Counters: transitions into overload, requests answered 503, TCP connections closed. */
  readonly stats = { entered: 0, shedRequests: 0, shedConnections: 0 };

  constructor(o: OverloadOptions, probes: OverloadProbes, log: Logger) {
    if (!(o.heapFraction >= 0 && o.heapFraction <= 1)) throw new RangeError(`overload heapFraction must be within [0, 1], got ${o.heapFraction}`);
    if (!(Number.isInteger(o.maxConnections) && o.maxConnections >= 0)) throw new RangeError(`overload maxConnections must be an integer ≥ 0, got ${o.maxConnections}`);
    if (!(o.checkIntervalMs > 0)) throw new RangeError('overload checkIntervalMs must be > 0');
    this.o = o;
    this.#probes = probes;
    this.#log = log;
    const seconds = String(Math.max(1, Math.ceil(o.retryAfterMs / 1000)));
    this.#error = new ProxyError('overloaded', 'the agent is overloaded and sheds new requests', { headers: { 'retry-after': seconds } });
  }

  /** Is any trigger on? Cheap enough for every request: a flag and one comparison. */
  get overloaded(): boolean {
    const t = this.trigger();
    if (t !== this.#lastTrigger) this.#transition(t);
    return t !== undefined;
  }

  /** Which trigger holds now, if any. */
  trigger(): OverloadTrigger | undefined {
    if (this.#heapOver) return 'heap';
    if (this.o.maxConnections > 0 && this.#probes.connections() > this.o.maxConnections) return 'connections';
    return undefined;
  }

  /** The error an HTTP request is answered with while overloaded (503, Retry-After). */
  error(): ProxyError {
    this.stats.shedRequests++;
    return this.#error;
  }

  /** Count an opaque connection closed at accept. */
  shedConnection(): void {
    this.stats.shedConnections++;
  }

  /** Sample the heap now (the timer calls this; tests may too). */
  check(): void {
    if (this.o.heapFraction > 0) {
      const f = this.#probes.heapUsedFraction();
      if (!this.#heapOver && f >= this.o.heapFraction) this.#heapOver = true;
      else if (this.#heapOver && f < this.o.heapFraction - HEAP_CLEAR_MARGIN) this.#heapOver = false;
    }
    void this.overloaded; // log a transition even when no request arrives
  }

  start(): void {
    if (this.#timer !== undefined || this.o.heapFraction === 0) { this.check(); return; }
    this.check();
    this.#timer = setInterval(() => this.check(), this.o.checkIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #transition(t: OverloadTrigger | undefined): void {
    const was = this.#lastTrigger;
    this.#lastTrigger = t;
    if (t !== undefined && was === undefined) {
      this.stats.entered++;
      this.#log.warn({ reason: 'overloaded', trigger: t, heap_fraction: this.o.heapFraction, max_connections: this.o.maxConnections }, 'overload: shedding new requests');
    } else if (t === undefined) {
      this.#log.info({ shed_requests: this.stats.shedRequests, shed_connections: this.stats.shedConnections }, 'overload: recovered, accepting requests again');
    }
  }
}
