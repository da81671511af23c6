/**
 * Small builders shared by the balancer and resilience unit tests:
 * endpoint specs, endpoint sets on a ManualClock, request contexts.
 */
import { ManualClock } from '../../../src/core/clock.ts';
import { newRequestCtx, type RequestCtx } from '../../../src/core/filter.ts';
import { EndpointSet } from '../../../src/balancer/endpoint-set.ts';
import type { EndpointSpec, Health } from '../../../src/discovery/types.ts';

export function spec(port: number, weight = 1, health: Health = 'passing', address = '10.0.0.1'): EndpointSpec {
  return { address, port, weight, tags: [], health };
}

/** A set of `n` endpoints 10.0.0.1:8001.. (or the given specs), on `clock`. */
export function makeSet(n: number | readonly EndpointSpec[], clock = new ManualClock(1000), service = 'api'): EndpointSet {
  const set = new EndpointSet(service, clock);
  const specs = typeof n === 'number' ? Array.from({ length: n }, (_, i) => spec(8001 + i)) : n;
  set.apply(specs, 'test');
  return set;
}

export function ctx(over: Partial<RequestCtx> = {}): RequestCtx {
  return Object.assign(newRequestCtx(), { method: 'GET', target: '/', upstream: 'api', remoteAddress: '127.0.0.1' }, over);
}

/** Count picks per endpoint key. */
export function tally(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}
