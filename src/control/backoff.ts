/**
 * Reconnect delays: exponential with full jitter (AWS architecture blog,
 * "Exponential Backoff And Jitter"), so a thousand agents that lost the same
 * coordinator do not come back in lockstep. Pure apart from the injectable
 * random source.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export class Backoff {
  readonly #o: BackoffOptions;
  readonly #random: () => number;
  #attempt = 0;

  constructor(o: BackoffOptions, random: () => number = Math.random) {
    if (!(o.initialMs > 0) || !(o.maxMs >= o.initialMs)) throw new RangeError('backoff needs 0 < initialMs <= maxMs');
    this.#o = o;
    this.#random = random;
  }

  /** The next delay: uniform in [initial/2, min(max, initial * 2^attempt)]. */
  next(): number {
    const cap = Math.min(this.#o.maxMs, this.#o.initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const floor = this.#o.initialMs / 2;
    return Math.round(floor + this.#random() * Math.max(0, cap - floor));
  }

  reset(): void { this.#attempt = 0; }

  get attempts(): number { return this.#attempt; }
}
