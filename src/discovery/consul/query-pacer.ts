/**
 * The blocking-query index rules and the pace of one watch loop (pure apart
 * from the injectable random source), after Consul's features/blocking.mdx:
 *
 * - Send the last X-Consul-Index back as `?index`; 0 (first query, or after a
 *   reset) answers at once.
 * - If the index goes backwards (servers restored, test server restarted),
 *   reset to 0: the next query is immediate and takes the new index.
 * - An index of 0 is a Consul bug that would make every query return at once:
 *   treat it as 1.
 * - Rate limit: never two queries within `minIntervalMs`; and when a blocking
 *   query returns early with nothing changed (a misbehaving proxy, an index
 *   that keeps resetting), back off from 1 s upwards, so an idle watch makes
 *   at most one query per second.
 * - Errors back off exponentially with jitter (control/backoff.ts) up to `maxMs`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff } from '../../control/backoff.ts';

export interface PacerOptions {
  readonly minIntervalMs: number;
  readonly waitMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Delay after the first early, unchanged answer; doubles per repeat (default 1 s). */
  readonly idleMinMs?: number;
}

export class QueryPacer {
  readonly #o: PacerOptions;
  readonly #random: () => number;
  readonly #errors: Backoff;
  #index = 0;
  #quiet = 0;
  #resync = false;

  constructor(o: PacerOptions, random: () => number = Math.random) {
    this.#o = o;
    this.#random = random;
    this.#errors = new Backoff({ initialMs: o.backoffInitialMs, maxMs: Math.max(o.backoffInitialMs, o.backoffMaxMs) }, random);
  }

  /**
   * The `?index` for the next query (0 = answer at once). After an error the
   * next query is non-blocking too, so a recovered Consul is noticed at once
   * (and a Consul that came back with a lower index is detected as a reset).
   */
  get index(): number { return this.#resync ? 0 : this.#index; }

  /** Record the X-Consul-Index of a well-formed answer; true when it went backwards (reset to 0). */
  observe(gotIndex: number): boolean {
    this.#errors.reset();
    this.#resync = false;
    const reset = gotIndex < this.#index;
    if (reset) this.#index = 0;
    else this.#index = gotIndex <= 0 ? 1 : gotIndex;
    return reset;
  }

  /**
   * How long after the start of the request to send the next one.
   * `sentIndex` is what the query asked with, `changed` whether the endpoint
   * set changed, `elapsedMs` how long the answer took.
   */
  delay(sentIndex: number, reset: boolean, changed: boolean, elapsedMs: number): number {
    if (changed) { this.#quiet = 0; return this.#o.minIntervalMs; }
    if (sentIndex === 0 && !reset) return this.#o.minIntervalMs;
    const early = elapsedMs < this.#o.waitMs / 2;
    if (early || reset) {
      this.#quiet += 1;
      const base = Math.min(this.#o.backoffMaxMs, (this.#o.idleMinMs ?? 1_000) * 2 ** Math.min(this.#quiet - 1, 20));
      return Math.max(this.#o.minIntervalMs, base * (0.9 + 0.2 * this.#random()));
    }
    this.#quiet = 0;
    return this.#o.minIntervalMs;
  }

  /** The query failed (network, HTTP error, garbage): how long to wait before the next one. */
  onError(): number {
    this.#resync = true;
    return Math.max(this.#o.minIntervalMs, this.#errors.next());
  }

  get consecutiveErrors(): number { return this.#errors.attempts; }
}

/**
 * A blocking-query loop paced by `pacer` until `signal` aborts: `query(index)`
 * runs one query; its `apply(reset, blocking)` acts on the answer and says
 * whether anything changed. Failures go to `onError` and back off.
 */
export async function pacedLoop(
  pacer: QueryPacer, signal: AbortSignal, onError: (err: unknown) => void,
  query: (index: number) => Promise<{ readonly index: number; apply(reset: boolean, blocking: boolean): boolean }>,
): Promise<void> {
  while (!signal.aborted) {
    const started = Date.now();
    const sent = pacer.index;
    let delay: number;
    try {
      const a = await query(sent);
      const reset = pacer.observe(a.index);
      delay = pacer.delay(sent, reset, a.apply(reset, sent > 0), Date.now() - started);
    } catch (err) {
      if (signal.aborted) break;
      onError(err);
      delay = pacer.onError();
    }
    const ms = Math.max(0, started + delay - Date.now());
    if (ms > 0 && !signal.aborted) await sleep(ms, undefined, { signal, ref: false }).catch(() => {});
  }
}
