/**
 * PROPOSED contract (to move into core/filter.ts if the lead agrees): a
 * filter whose decision sometimes needs I/O or time, such as a rate limit
 * kept in Redis or an injected delay.
 *
 * The router runs the synchronous `onRequest` pass as today. Filters that
 * also have `onRequestAsync` are collected once, when the stack is built;
 * after the sync pass returned Continue, the router calls each of them in
 * order. A `null` return means "nothing to wait for" and costs nothing; a
 * Promise is awaited, and a Reply verdict (with ctx.error set) ends the
 * request like a sync Reply. Stacks without such filters never touch a
 * Promise, so the hot path stays synchronous.
 *
 *   for (const f of asyncFilters) {
 *     const p = f.onRequestAsync(ctx);
 *     if (p !== null && (await p) === Verdict.Reply) return reply(ctx);
 *   }
 */
import type { Filter, RequestCtx, Verdict } from '../core/filter.ts';

export interface AsyncFilter extends Filter {
  onRequestAsync(ctx: RequestCtx): Promise<Verdict> | null;
}

export function isAsyncFilter(f: Filter): f is AsyncFilter {
  return typeof (f as Partial<AsyncFilter>).onRequestAsync === 'function';
}
