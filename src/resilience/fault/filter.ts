/**
 * Fault injection as a request-level Filter, for stacks without a retry
 * loop (inbound, or outbound routes where the router does not inject per
 * attempt). It reads the injector from the route policy that the route
 * filter put in `ctx.route` (so it sits after it):
 *
 * - abort: a local reply, FaultAbortError (the configured status, or a
 *   reset the rescue point performs);
 * - delay: through the proposed async hook (async-filter.ts), only for the
 *   requests that drew a delay; all others return null and stay synchronous.
 *
 * The abort is rolled in the sync pass and the delay afterwards, so a
 * request drawing both is aborted without waiting (Envoy delays first; the
 * difference only shows in how long an aborted request took).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestCtx } from '../../core/filter.ts';
import { Verdict } from '../../core/filter.ts';
import type { AsyncFilter } from '../async-filter.ts';
import { NO_ABORT, type FaultInjector } from './injector.ts';

/** What the filter needs from the route policy in ctx.route. */
export interface HasFault {
  readonly fault: FaultInjector | undefined;
}

export class FaultFilter implements AsyncFilter {
  readonly name = 'fault';

  onRequest(ctx: RequestCtx): Verdict {
    const f = (ctx.route as HasFault | undefined)?.fault;
    if (f === undefined) return Verdict.Continue;
    if (f.abortCode() === NO_ABORT) return Verdict.Continue;
    ctx.error = f.abortError;
    return Verdict.Reply;
  }

  onRequestAsync(ctx: RequestCtx): Promise<Verdict> | null {
    const f = (ctx.route as HasFault | undefined)?.fault;
    if (f === undefined) return null;
    const ms = f.delayMs();
    if (ms <= 0) return null;
    return sleep(ms, Verdict.Continue);
  }
}
