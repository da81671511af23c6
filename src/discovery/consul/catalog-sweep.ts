/**
 * Sweeps for the catalog watch (catalog-watch.ts): re-read every name that
 * holds no blocking query of its own, `concurrency` reads at a time.
 *
 * - `trigger()` starts a sweep, or marks one more to follow when a sweep is
 *   running: any number of triggers during a sweep coalesce into one.
 * - A sweep in which a read failed is followed by another after `backoff`
 *   (the names that failed keep what was known meanwhile).
 * - Two sweeps are at least `minIntervalMs` apart.
 * The item list is taken at the start of each sweep, so items that appear
 * meanwhile are read by the next one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Backoff } from '../../control/backoff.ts';

export interface SweepOptions<T> {
  /** What to read in the sweep starting now. */
  readonly items: () => T[];
  /** Read one item; a rejection counts as a failed read (the caller logs it). */
  readonly read: (item: T) => Promise<void>;
  readonly concurrency: number;
  readonly minIntervalMs: number;
  readonly backoff: Backoff;
  readonly signal: AbortSignal;
}

export class Sweeper<T> {
  readonly #o: SweepOptions<T>;
  #running = false;
  #again = false;
  /** Sweeps run so far. */
  sweeps = 0;

  constructor(o: SweepOptions<T>) {
    if (!(o.concurrency >= 1)) throw new RangeError('sweep concurrency must be >= 1');
    this.#o = o;
  }

  get running(): boolean { return this.#running; }

  trigger(): void {
    if (this.#running) { this.#again = true; return; }
    this.#running = true;
    void this.#loop().finally(() => { this.#running = false; });
  }

  async #loop(): Promise<void> {
    const { signal } = this.#o;
    do {
      this.#again = false;
      const todo = this.#o.items();
      if (todo.length === 0) return;
      this.sweeps++;
      let failed = false;
      const worker = async (): Promise<void> => {
        for (let item = todo.shift(); item !== undefined && !signal.aborted; item = todo.shift()) {
          try { await this.#o.read(item); } catch { failed = true; }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, todo.length) }, worker));
      if (failed) { this.#again = true; await pause(this.#o.backoff.next(), signal); } else this.#o.backoff.reset();
      if (this.#again) await pause(this.#o.minIntervalMs, signal);
    } while (this.#again && !signal.aborted);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return sleep(ms, undefined, { signal, ref: false }).catch(() => {});
}
