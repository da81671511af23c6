/**
 * Fault injection, per route: abort (answer a status, or reset) and delay
 * (a fixed time), each applied to a percentage of requests, rolled
 * independently (Envoy's fault filter, Istio's VirtualService `fault`).
 *
 * On the outbound side the router asks the injector *per attempt*, inside
 * the retry loop and under the attempt's timeouts, so the fault looks like a
 * misbehaving upstream to the resilience layers: an injected 503 or reset is
 * retried like a real one, an injected delay trips per-try and request
 * timeouts. That is how users check that their retry and timeout policies
 * absorb the fault (Istio instead turns retries off while faults are
 * injected). An injected abort writes nothing upstream, so it counts as
 * "nothing sent" for method safety.
 *
 * Decisions are pure numbers with an injected RNG; nothing is allocated.
 */
import { ProxyError } from '../../core/errors.ts';
import { mathRandom, type Rng } from '../../balancer/rng.ts';

export interface FaultConfig {
  readonly abort?: { readonly status?: number | undefined; readonly reset: boolean; readonly percentage: number } | undefined;
  readonly delay?: { readonly fixed: number; readonly percentage: number } | undefined;
}

/** abortCode(): no abort. */
export const NO_ABORT = 0;
/** abortCode(): reset the connection. */
export const ABORT_RESET = -1;

/**
 * A local reply for an injected abort: `status` is the configured one
 * (the catalogue's fault_abort default is 503), `reset` asks the rescue
 * point to reset the downstream stream instead of answering.
 */
export class FaultAbortError extends ProxyError {
  readonly reset: boolean;
  readonly #status: number;

  constructor(status: number, reset: boolean) {
    super('fault_abort', reset ? 'injected reset' : `injected abort with ${status}`);
    this.reset = reset;
    this.#status = status;
  }

  override get status(): number {
    return this.#status;
  }
}

export class FaultInjector {
  readonly stats = { delays: 0, aborts: 0, resets: 0 };
  readonly #abortCode: number;
  readonly #abortP: number;
  readonly #delayMs: number;
  readonly #delayP: number;
  readonly #rng: Rng;
  readonly #abortError: FaultAbortError | undefined;

  constructor(cfg: FaultConfig, rng: Rng = mathRandom) {
    const a = cfg.abort;
    if (a !== undefined) {
      if ((a.status === undefined) === !a.reset) throw new RangeError('fault.abort needs exactly one of status or reset');
      if (a.status !== undefined && !(Number.isInteger(a.status) && a.status >= 200 && a.status <= 599)) throw new RangeError('fault.abort.status must be 200..599');
      if (!(a.percentage >= 0 && a.percentage <= 100)) throw new RangeError('fault.abort.percentage must be within 0..100');
    }
    const d = cfg.delay;
    if (d !== undefined) {
      if (!(d.fixed >= 0)) throw new RangeError('fault.delay.fixed must be >= 0');
      if (!(d.percentage >= 0 && d.percentage <= 100)) throw new RangeError('fault.delay.percentage must be within 0..100');
    }
    this.#abortCode = a === undefined ? NO_ABORT : a.reset ? ABORT_RESET : a.status!;
    this.#abortP = a === undefined ? 0 : a.percentage / 100;
    this.#delayMs = d?.fixed ?? 0;
    this.#delayP = d === undefined ? 0 : d.percentage / 100;
    this.#rng = rng;
    this.#abortError = a === undefined ? undefined : new FaultAbortError(a.status ?? 503, a.reset);
  }

  /** ms to hold this attempt (0 = none). */
  delayMs(): number {
    if (this.#delayP <= 0 || this.#delayMs <= 0) return 0;
    if (this.#delayP < 1 && this.#rng() >= this.#delayP) return 0;
    this.stats.delays++;
    return this.#delayMs;
  }

  /** NO_ABORT, ABORT_RESET, or the HTTP status to answer instead of calling the upstream. */
  abortCode(): number {
    if (this.#abortP <= 0) return NO_ABORT;
    if (this.#abortP < 1 && this.#rng() >= this.#abortP) return NO_ABORT;
    if (this.#abortCode === ABORT_RESET) this.stats.resets++; else this.stats.aborts++;
    return this.#abortCode;
  }

  /** Roll the abort dice: the (preallocated) abort error when this attempt is to be aborted, else undefined. */
  abort(): FaultAbortError | undefined {
    return this.abortCode() === NO_ABORT ? undefined : this.#abortError;
  }

  /** The (preallocated) local reply for this injector's abort, for request-level use. */
  get abortError(): FaultAbortError | undefined {
    return this.#abortError;
  }
}
