/**
 * `random`: a uniformly random available endpoint (Envoy's RANDOM policy).
 * Cheap and stateless; useful when many agents share few endpoints and
 * round robin would synchronise them. One draw usually suffices; after a few
 * draws that hit unavailable endpoints it scans from a random start.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { RequestCtx } from '../core/filter.ts';
import type { Endpoint } from './endpoint.ts';
import type { EndpointSet } from './endpoint-set.ts';
import { mathRandom, type Rng } from './rng.ts';
import type { Balancer } from './types.ts';

const DRAWS = 3;

export interface RandomOptions {
  readonly clock?: Clock;
  readonly rng?: Rng;
}

export class RandomBalancer implements Balancer {
  readonly kind = 'random';
  readonly #set: EndpointSet;
  readonly #clock: Clock;
  readonly #rng: Rng;

  constructor(set: EndpointSet, opts: RandomOptions = {}) {
    this.#set = set;
    this.#clock = opts.clock ?? systemClock;
    this.#rng = opts.rng ?? mathRandom;
  }

  pick(_ctx: RequestCtx, exclude: Endpoint | undefined): Endpoint | undefined {
    return pickRandom(this.#set.list, exclude, this.#clock.now(), this.#rng, false);
  }
}

/**
 * A random endpoint of `list` other than `exclude` (which is the fallback).
 * With `anyHealth`, availability is ignored (panic mode) but `live` is not.
 */
export function pickRandom(
  list: readonly Endpoint[], exclude: Endpoint | undefined, now: number, rng: Rng, anyHealth: boolean,
): Endpoint | undefined {
  const n = list.length;
  if (n === 0) return undefined;
  for (let d = 0; d < DRAWS; d++) {
    const ep = list[(rng() * n) | 0]!;
    if (ep !== exclude && (anyHealth ? ep.live : ep.available(now))) return ep;
  }
  const start = (rng() * n) | 0;
  let fallback: Endpoint | undefined;
  for (let k = 0; k < n; k++) {
    const ep = list[(start + k) % n]!;
    if (!(anyHealth ? ep.live : ep.available(now))) continue;
    if (ep !== exclude) return ep;
    fallback = ep;
  }
  return fallback;
}
