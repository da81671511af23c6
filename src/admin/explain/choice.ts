/**
 * Which endpoint a request would go to, and why, without disturbing the
 * balancer. Calling `pick()` is not side-effect free for every policy:
 *
 *   round_robin   pick() advances the rotation (the EDF heap's deadlines):
 *                 NOT called; the next in rotation is not observable from
 *                 outside, so explain names the rule and the best-weighted
 *                 candidate.
 *   least_request pick() draws two random endpoints (it only consumes the
 *                 rng): NOT called either, so the answer is stable; explain
 *                 names the lowest-cost endpoint, the one P2C favours.
 *   random        as least_request: any available endpoint, uniformly.
 *   ring_hash     pick() is a pure lookup of the request's hash (the ring
 *                 is built lazily on a set change): called on the inner
 *                 balancer, so the answer is exact.
 *
 * A balancer with a `peek(ctx)` method (Envoy's peekAnotherHost) is asked
 * directly and its answer is exact. The panic decorator (`inner`,
 * `panicking`) is looked through: in panic mode every live endpoint counts.
 */
import type { Balancer } from '../../balancer/types.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { RequestCtx } from '../../core/filter.ts';

export interface Choice {
  /** Endpoint key, or null when none is usable. */
  readonly endpoint: string | null;
  /** True when the balancer itself was asked (the answer is what it would pick). */
  readonly exact: boolean;
  readonly rule: string;
  readonly why: string;
  readonly reason?: 'no_endpoints';
}

interface PeekShape { peek?(ctx: RequestCtx): Endpoint | undefined }
interface PanicShape { inner?: Balancer; panicking?: boolean }

function lowest(list: readonly Endpoint[], score: (ep: Endpoint) => number): Endpoint | undefined {
  let best: Endpoint | undefined;
  let bestScore = Infinity;
  for (const ep of list) {
    const s = score(ep);
    if (best === undefined || s < bestScore) { best = ep; bestScore = s; }
  }
  return best;
}

export function chooseEndpoint(balancer: Balancer, list: readonly Endpoint[], ctx: RequestCtx, now: number): Choice {
  const panic = (balancer as PanicShape).panicking === true;
  const inner = (balancer as PanicShape).inner ?? balancer;
  const usable = list.filter((ep) => (panic ? ep.live : ep.available(now)));
  const unavailable = list.length - usable.length;
  const panicNote = panic ? ' Panic mode: too few endpoints are available, so health, ejection and breakers are ignored and load spreads over every live endpoint.' : '';
  if (usable.length === 0) {
    return {
      endpoint: null, exact: true, reason: 'no_endpoints', rule: inner.kind,
      why: list.length === 0 ? 'discovery has no endpoint for this upstream' : `all ${list.length} endpoints are unavailable (see their state)`,
    };
  }
  const peek = (inner as PeekShape).peek;
  if (typeof peek === 'function' && !panic) {
    const ep = peek.call(inner, ctx);
    return { endpoint: ep?.key ?? null, exact: true, rule: inner.kind, why: `asked the ${inner.kind} balancer without advancing it.${panicNote}` };
  }
  const skipped = unavailable > 0 ? ` ${unavailable} unavailable endpoint${unavailable === 1 ? ' is' : 's are'} skipped.` : '';
  switch (inner.kind) {
    case 'ring_hash': {
      if (!panic) {
        const ep = inner.pick(ctx, undefined);
        return { endpoint: ep?.key ?? null, exact: true, rule: 'ring_hash', why: `the request's hash lands on this endpoint's point of the ring (first available clockwise).${skipped}` };
      }
      break;
    }
    case 'least_request': {
      const ep = lowest(usable, (e) => inner.score?.(e) ?? 0)!;
      return { endpoint: ep.key, exact: usable.length === 1, rule: 'least_request',
        why: `power of two choices: two random available endpoints are drawn and the lower cost (EWMA latency x (active + 1) / weight) wins; ${ep.key} has the lowest cost, so it wins every draw it is in.${skipped}${panicNote}` };
    }
    case 'round_robin': {
      const ep = lowest(usable, (e) => inner.score?.(e) ?? 1 / Math.max(e.spec.weight, 1))!;
      return { endpoint: ep.key, exact: usable.length === 1, rule: 'round_robin',
        why: `weighted round robin over the ${usable.length} available endpoint${usable.length === 1 ? '' : 's'}, in proportion to weight; ${usable.length === 1 ? 'it is the only one' : `${ep.key} has the largest share, and which is next depends on the rotation, which explain does not advance`}.${skipped}${panicNote}` };
    }
    default:
      break;
  }
  const ep = usable[0]!;
  return { endpoint: usable.length === 1 ? ep.key : null, exact: usable.length === 1, rule: inner.kind,
    why: `${inner.kind}: any of the ${usable.length} available endpoint${usable.length === 1 ? '' : 's'}, at random.${skipped}${panicNote}` };
}
