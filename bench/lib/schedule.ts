/**
 * The open-loop send schedule (wrk2's idea): request i is due at i / rate
 * seconds after the start, whatever happened to the requests before it.
 * Latency is measured from this scheduled time, not from the moment the
 * generator got round to sending, which corrects coordinated omission: a
 * stalled target is charged for every request that should have gone out.
 * Pure: the generator (openloop.ts) drives it with its own clock.
 */

export class OpenLoopSchedule {
  readonly rate: number;
  readonly durationMs: number;
  /** Number of requests in the whole phase. */
  readonly total: number;
  readonly #intervalMs: number;

  constructor(rate: number, durationMs: number) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`schedule: rate must be > 0, got ${rate}`);
    if (!(durationMs > 0) || !Number.isFinite(durationMs)) throw new RangeError(`schedule: duration must be > 0, got ${durationMs}`);
    this.rate = rate;
    this.durationMs = durationMs;
    this.#intervalMs = 1000 / rate;
    this.total = Math.max(1, Math.floor((rate * durationMs) / 1000));
  }

  /** Scheduled send time of request i, in ms after the phase start. */
  sendTime(i: number): number {
    return i * this.#intervalMs;
  }

  /** How many requests are due (scheduled at or before `elapsedMs`), capped at `total`. */
  due(elapsedMs: number): number {
    if (elapsedMs < 0) return 0;
    // The small epsilon keeps 1000/rate * k from landing just below k by float error.
    return Math.min(this.total, Math.floor(elapsedMs / this.#intervalMs + 1e-9) + 1);
  }
}
