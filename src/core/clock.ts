/**
 * An injectable clock. Algorithms (balancers, budgets, detectors, breakers)
 * take a Clock so tests drive time explicitly instead of sleeping.
 */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

/** A clock that only moves when told to: for unit tests of pure algorithms. */
export class ManualClock implements Clock {
  #t: number;
  constructor(start = 0) { this.#t = start; }
  now(): number { return this.#t; }
  advance(ms: number): void { this.#t += ms; }
  set(ms: number): void { this.#t = ms; }
}
