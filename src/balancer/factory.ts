/**
 * Builds an upstream's balancer from its `lb` options:
 *
 *   least_request | round_robin | random | ring_hash
 *     └─ slow start (round_robin, least_request: hashing must stay stable,
 *        random ignores weights)
 *   wrapped in the panic threshold decorator unless panic_threshold is 0,
 *
 * plus the AttemptObservers the router must call for it: the peak-EWMA
 * observer (returned for every policy: /clusters shows the estimate, and a
 * policy switch keeps warm estimates). Endpoint.active, which
 * least_request reads, is kept by the router (proxy/cluster.ts).
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { LbOptions } from '../resilience/options.ts';
import type { EndpointSet } from './endpoint-set.ts';
import { LeastRequest, PeakEwmaObserver } from './least-request.ts';
import { PanicBalancer } from './panic.ts';
import { RandomBalancer } from './random.ts';
import { RingHash, type HashOn } from './ring-hash.ts';
import { mathRandom, type Rng } from './rng.ts';
import { SlowStart } from './slow-start.ts';
import type { AttemptObserver, Balancer } from './types.ts';
import { WeightedRoundRobin } from './weighted-round-robin.ts';

export interface BalancerDeps {
  readonly clock?: Clock;
  readonly rng?: Rng;
}

export interface BuiltBalancer {
  readonly balancer: Balancer;
  readonly observers: readonly AttemptObserver[];
  /** The panic decorator, when enabled (its stats: entered, picks). */
  readonly panic: PanicBalancer | undefined;
}

export function createBalancer(set: EndpointSet, lb: LbOptions, deps: BalancerDeps = {}): BuiltBalancer {
  const clock = deps.clock ?? systemClock;
  const rng = deps.rng ?? mathRandom;
  const ss = lb.slow_start;
  const slowStart = ss.window > 0 ? new SlowStart({ windowMs: ss.window, aggression: ss.aggression, minWeightPercent: ss.min_weight_percent }) : undefined;
  const lr = lb.least_request;
  let inner: Balancer;
  switch (lb.policy) {
    case 'least_request':
      inner = new LeastRequest(set, { clock, rng, decayMs: lr.decay, defaultRttMs: lr.default_rtt, ...(slowStart ? { slowStart } : {}) });
      break;
    case 'round_robin':
      inner = new WeightedRoundRobin(set, { clock, rng, ...(slowStart ? { slowStart } : {}) });
      break;
    case 'random':
      inner = new RandomBalancer(set, { clock, rng });
      break;
    case 'ring_hash': {
      const rh = lb.ring_hash;
      const hashOn: HashOn = rh.hash_on === 'source_ip' ? { kind: 'source_ip' } : { kind: rh.hash_on, name: rh.name! };
      inner = new RingHash(set, { hashOn, vnodes: rh.vnodes, maxRingSize: rh.max_ring_size, clock, rng });
      break;
    }
  }
  const observers = [new PeakEwmaObserver({ clock, decayMs: lr.decay, defaultRttMs: lr.default_rtt, failurePenaltyMs: lr.failure_penalty })];
  if (lb.panic_threshold <= 0) return { balancer: inner, observers, panic: undefined };
  const panic = new PanicBalancer(inner, set, { thresholdPercent: lb.panic_threshold, clock, rng });
  return { balancer: panic, observers, panic };
}
