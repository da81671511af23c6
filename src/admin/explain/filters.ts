/**
 * What each filter of a stack would do with a simulated request, without
 * running its onRequest (which may take a rate-limit token or a concurrency
 * unit). A filter's own `explain(ctx)` wins; for the filters of this
 * codebase that have none yet, the shapes below describe them by name and
 * structure (no import of their classes). Anything else is listed with a
 * note: its effect is unknown to /explain.
 *
 * Convention for explanations: `verdict: 'reply'` with a `reason` from the
 * catalogue says the request would be answered by this filter; an
 * authorization filter reports `allowed` and `rule`.
 */
import type { Filter, RequestCtx } from '../../core/filter.ts';

export type FilterExplanation = Record<string, unknown> & {
  verdict?: 'continue' | 'reply';
  reason?: string;
  allowed?: boolean;
  rule?: string;
};

interface RouteTableShape {
  matchIndex(method: string, target: string, headers: readonly string[]): number;
  nameOf(i: number): string;
  match(ctx: RequestCtx): unknown;
}
interface LimitsShape { stats: Record<string, { active: number; max: number; overflows: number }> }

/** Filters that only observe outcomes (telemetry): nothing to explain. */
const OBSERVERS = new Set(['metrics', 'access_log', 'recent_requests', 'golden']);

export function explainFilter(f: Filter, ctx: RequestCtx): FilterExplanation {
  const own = f.explain?.(ctx);
  if (own !== undefined) return own as FilterExplanation;
  if (OBSERVERS.has(f.name)) return { observes: true };
  const x = f as unknown as Record<string, unknown>;
  if (f.name === 'route' && typeof (x['table'] as RouteTableShape | undefined)?.matchIndex === 'function') {
    const table = x['table'] as RouteTableShape;
    const i = table.matchIndex(ctx.method, ctx.target, ctx.headers);
    ctx.route = table.match(ctx); // later filters and the policy view read it
    return { verdict: 'continue', route: table.nameOf(i), matched: i >= 0 };
  }
  if (f.name === 'limits' && typeof (x['limits'] as LimitsShape | undefined)?.stats === 'object') {
    const r = (x['limits'] as LimitsShape).stats['requests'];
    if (r !== undefined) {
      const full = r.active >= r.max;
      return { verdict: full ? 'reply' : 'continue', ...(full ? { reason: 'overflow_requests' } : {}), requests_active: r.active, requests_max: r.max };
    }
  }
  if (f.name === 'ratelimit' && typeof x['stats'] === 'object') {
    const s = x['stats'] as { allowed: number; limited: number };
    return { verdict: 'continue', allowed_total: s.allowed, limited_total: s.limited, note: 'explain does not take a token; whether one is left right now is not shown' };
  }
  if (f.name === 'authz' && typeof x['decide'] === 'function') {
    const d = (x['decide'] as (c: RequestCtx) => { allowed: boolean; rule: string }).call(f, ctx);
    return d.allowed
      ? { verdict: 'continue', allowed: true, rule: d.rule }
      : { verdict: 'reply', reason: 'authz_denied', allowed: false, rule: d.rule, detail: `${ctx.peerIdentity ?? 'an unauthenticated caller'} is not allowed (${d.rule})` };
  }
  if (f.name === 'retry-budget') {
    const b = x['budget'] as { balance(): number } | undefined;
    return { verdict: 'continue', note: 'each request deposits into the retry budget', ...(b ? { budget_remaining: b.balance() } : { budget: 'none' }) };
  }
  if (f.name === 'fault') {
    const fault = (ctx.route as { fault?: unknown } | undefined)?.fault;
    return { verdict: 'continue', configured: fault !== undefined, note: fault === undefined ? 'no fault injection on this route' : 'faults are drawn per request: this one may be delayed or aborted' };
  }
  return { note: 'this filter has no explain(): its effect is not shown' };
}
