/**
 * The route filter: puts the policy of the matching route into `ctx.route`
 * for the filters after it and for the router (timeouts, retry decider,
 * fault injector). Sits before every filter that reads ctx.route.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import { Verdict } from '../core/filter.ts';
import type { RouteTable } from './match.ts';

export class RouteFilter<P> implements Filter {
  readonly name = 'route';
  readonly table: RouteTable<P>;

  constructor(table: RouteTable<P>) {
    this.table = table;
  }

  onRequest(ctx: RequestCtx): Verdict {
    ctx.route = this.table.match(ctx);
    return Verdict.Continue;
  }
}
