/**
 * Golden metrics over a reporting interval (requests, success rate, p50/p99
 * latency), for the coordinator's mesh view. A filter whose onDone does O(1)
 * work on preallocated state: a count, a failure count and a bounded
 * reservoir of latency samples (Algorithm R), cut and reset by `take()`.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import type { GoldenMetrics } from '../control/snapshot.ts';

const RESERVOIR = 512;

export class GoldenFilter implements Filter {
  readonly name = 'golden';
  #requests = 0;
  #failures = 0;
  #seen = 0;
  #since = performance.now();
  readonly #samples = new Float64Array(RESERVOIR);
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  onRequest(): 0 { return 0; }

  onDone(ctx: RequestCtx): void {
    this.#requests++;
    if (ctx.reason !== undefined || ctx.status >= 500 || ctx.status === 0) this.#failures++;
    if (ctx.responseStartedAt === 0) return;
    const ms = ctx.responseStartedAt - ctx.startedAt;
    const i = this.#seen++;
    if (i < RESERVOIR) this.#samples[i] = ms;
    else {
      const j = Math.floor(this.#random() * (i + 1));
      if (j < RESERVOIR) this.#samples[j] = ms;
    }
  }

  /** The metrics since the last take(), then reset. */
  take(now = performance.now()): GoldenMetrics {
    const n = Math.min(this.#seen, RESERVOIR);
    const sorted = this.#samples.slice(0, n).sort();
    const q = (p: number): number => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(p * n))]!);
    const secs = Math.max(0.001, (now - this.#since) / 1000);
    const m: GoldenMetrics = {
      requests: this.#requests,
      rps: this.#requests / secs,
      successRate: this.#requests === 0 ? 1 : 1 - this.#failures / this.#requests,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
    };
    this.#requests = 0; this.#failures = 0; this.#seen = 0; this.#since = now;
    return m;
  }
}
