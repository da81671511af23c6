/**
 * `round_robin`: kept as the name the foundation wires. Round robin is
 * weighted by the registry/Consul weights (all 1 → plain rotation), so this
 * is the smooth weighted scheduler of `weighted-round-robin.ts` under its
 * original constructor signature. Unless an `rng` is given it starts at the
 * first endpoint, as the foundation's version did.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { EndpointSet } from './endpoint-set.ts';
import { WeightedRoundRobin, type WeightedRoundRobinOptions } from './weighted-round-robin.ts';

export class RoundRobin extends WeightedRoundRobin {
  constructor(set: EndpointSet, clock: Clock = systemClock, opts: Omit<WeightedRoundRobinOptions, 'clock'> = {}) {
    super(set, { rng: () => 0, ...opts, clock });
  }
}
