/**
 * The concurrent-requests limit as a hot-path Filter: a request takes a
 * `requests` unit on its head and gives it back in onDone; at the maximum it
 * is answered at once with reason `overflow_requests` (503).
 *
 * onDone runs for every request that entered the stack, including those an
 * earlier filter refused before this one ran; so the filter remembers which
 * contexts hold a unit (a WeakSet: no per-request allocation, no leak if a
 * context is dropped). A numeric per-filter slot on RequestCtx would make
 * this a field write; see the report to the lead.
 */
import type { Filter, RequestCtx } from '../../core/filter.ts';
import { Verdict } from '../../core/filter.ts';
import type { ResourceLimits } from './resource-limits.ts';

export class ConcurrencyLimitFilter implements Filter {
  readonly name = 'limits';
  readonly limits: ResourceLimits;
  readonly #holding = new WeakSet<RequestCtx>();

  constructor(limits: ResourceLimits) {
    this.limits = limits;
  }

  onRequest(ctx: RequestCtx): Verdict {
    if (!this.limits.tryAcquire('requests')) {
      ctx.error = this.limits.overflowError('requests');
      return Verdict.Reply;
    }
    this.#holding.add(ctx);
    return Verdict.Continue;
  }

  onDone(ctx: RequestCtx): void {
    if (this.#holding.delete(ctx)) this.limits.release('requests');
  }
}
