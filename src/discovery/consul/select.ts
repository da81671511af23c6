/**
 * Which instances of a service the balancer gets (pure): the tag filter, the
 * fail-open policy (see options.ts) and flap damping, applied to one parsed
 * health answer.
 *
 * - Only instances carrying all the required tags count.
 * - Healthy = every check passing (Consul's `?passing` semantics).
 * - Flap damping holds back re-admitted instances, but never empties the set:
 *   if every healthy instance is held down, they are used anyway.
 * - No healthy instance: fail-closed yields an empty set; fail-open yields
 *   every instance (warning ones with Weights.Warning, dropping those whose
 *   warning weight is 0 unless that leaves none), flagged `panic`.
 */
import type { EndpointSpec } from '../types.ts';
import type { FlapDamper } from './flap-damper.ts';
import { toEndpoint, type HealthInstance } from './health-entries.ts';

export interface SelectPolicy {
  readonly tags: readonly string[];
  readonly failOpen: boolean;
  readonly trustDomain?: string | undefined;
}

export interface Selection {
  readonly endpoints: EndpointSpec[];
  /** Fail-open engaged: no healthy instance, all instances used. */
  readonly panic: boolean;
  readonly recheckAt: number | undefined;
  readonly total: number;
  readonly healthy: number;
}

export function selectEndpoints(instances: readonly HealthInstance[], policy: SelectPolicy, damper: FlapDamper, now: number): Selection {
  const tagged = instances.filter((i) => policy.tags.every((t) => i.tags.includes(t)));
  const healthy = tagged.filter((i) => i.health === 'passing');
  const damp = damper.apply(healthy.map((i) => i.key), now);
  let chosen = healthy.filter((i) => damp.admitted.has(i.key));
  if (chosen.length === 0) chosen = healthy;
  if (chosen.length > 0 || !policy.failOpen || tagged.length === 0) {
    return { endpoints: chosen.map((i) => toEndpoint(i, policy.trustDomain)), panic: false, recheckAt: damp.recheckAt, total: tagged.length, healthy: healthy.length };
  }
  const weighted = tagged.filter((i) => i.health !== 'warning' || i.weights.warning > 0);
  const all = weighted.length > 0 ? weighted : tagged;
  return { endpoints: all.map((i) => toEndpoint(i, policy.trustDomain)), panic: true, recheckAt: undefined, total: tagged.length, healthy: 0 };
}
