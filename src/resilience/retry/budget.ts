/**
 * Retry budget, per upstream (Linkerd / Finagle / tower `TpsBudget`).
 *
 * A retry count alone multiplies load during an outage (3 attempts = 3×
 * traffic exactly when the upstream can least take it). A budget instead
 * bounds retries to a fraction of real traffic:
 *
 *   retries ≤ ratio × requests + min_per_second × window     over any window
 *
 * Every request *deposits* 1 unit; every retry *withdraws* 1/ratio units
 * (5 at the default 20%). Deposits and withdrawals are recorded in 10 slots
 * covering the window, so they expire after `window`. A retry is allowed
 * while (balance in window + reserve) ≥ its cost, where the reserve is
 * min_per_second × window-seconds retries' worth: it lets a low-traffic
 * upstream still retry a little. Amounts are integers scaled by 1000 so the
 * arithmetic is exact.
 *
 * Driven by an injectable clock; slots rotate lazily on use. O(1) per call.
 */
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';

const SLOTS = 10;
const SCALE = 1000;

export interface BudgetConfig {
  /** Retries may add this fraction of requests (0.2 = 20%). */
  readonly ratio: number;
  /** … plus this many retries per second of the window. */
  readonly minPerSecond: number;
  /** Window length in ms. */
  readonly windowMs: number;
}

export class RetryBudget {
  readonly stats = { deposits: 0, withdrawals: 0, exhausted: 0 };
  readonly #clock: Clock;
  readonly #deposit: number;
  readonly #withdraw: number;
  readonly #reserve: number;
  readonly #slotMs: number;
  readonly #slots = new Float64Array(SLOTS);
  #gen = -Infinity;
  #sum = 0;

  constructor(cfg: BudgetConfig, clock: Clock = systemClock) {
    if (!(cfg.ratio >= 0)) throw new RangeError('budget ratio must be >= 0');
    if (!(cfg.minPerSecond >= 0)) throw new RangeError('budget min_per_second must be >= 0');
    if (!(cfg.windowMs >= 1000)) throw new RangeError('budget window must be >= 1s');
    this.#clock = clock;
    if (cfg.ratio === 0) { this.#deposit = 0; this.#withdraw = SCALE; }
    else { this.#deposit = SCALE; this.#withdraw = Math.max(1, Math.round(SCALE / cfg.ratio)); }
    this.#reserve = Math.floor(cfg.minPerSecond * (cfg.windowMs / 1000)) * this.#withdraw;
    this.#slotMs = cfg.windowMs / SLOTS;
  }

  /** Once per original request (not per retry). */
  deposit(): void {
    this.#rotate();
    this.#slots[this.#index()]! += this.#deposit;
    this.#sum += this.#deposit;
    this.stats.deposits++;
  }

  /** Take the cost of one retry if the budget allows it. */
  tryWithdraw(): boolean {
    this.#rotate();
    if (this.#sum + this.#reserve < this.#withdraw) {
      this.stats.exhausted++;
      return false;
    }
    this.#slots[this.#index()]! -= this.#withdraw;
    this.#sum -= this.#withdraw;
    this.stats.withdrawals++;
    return true;
  }

  /** Retries the budget would allow right now (for /clusters). */
  balance(): number {
    this.#rotate();
    return Math.max(0, Math.floor((this.#sum + this.#reserve) / this.#withdraw));
  }

  #index(): number {
    return ((this.#gen % SLOTS) + SLOTS) % SLOTS;
  }

  #rotate(): void {
    const gen = Math.floor(this.#clock.now() / this.#slotMs);
    if (gen <= this.#gen) return;
    const steps = gen - this.#gen;
    if (steps >= SLOTS) {
      this.#slots.fill(0);
      this.#sum = 0;
    } else {
      for (let g = this.#gen + 1; g <= gen; g++) {
        const i = ((g % SLOTS) + SLOTS) % SLOTS;
        this.#sum -= this.#slots[i]!;
        this.#slots[i] = 0;
      }
    }
    this.#gen = gen;
  }
}
