/**
 * The state of each endpoint of a cluster, as /clusters and /explain show
 * it, with the reason an endpoint is not available.
 *
 * Endpoint fields say most of it (health, ejectedUntil, breakerOpen, live).
 * Details only the resilience objects know (breaker half-open, how many
 * times an endpoint was ejected) are read from the cluster's observers by
 * shape, so this file depends on no resilience class: a BreakerRegistry has
 * `state(ep)`, an OutlierObserver has `detector.ejectionCount(ep)`.
 */
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { Cluster } from '../../proxy/cluster.ts';

export type EndpointState = 'available' | 'removed' | 'critical' | 'ejected' | 'breaker_open' | 'breaker_half_open';

interface BreakerReader { state(ep: Endpoint): string | undefined }
interface EjectionReader { ejectionCount(ep: Endpoint): number }

export interface ClusterReaders {
  readonly breakers: BreakerReader | undefined;
  readonly outlier: EjectionReader | undefined;
}

export function readersOf(cluster: Cluster): ClusterReaders {
  let breakers: BreakerReader | undefined;
  let outlier: EjectionReader | undefined;
  for (const o of cluster.observers as unknown[]) {
    const x = o as { state?: unknown; states?: unknown; detector?: { ejectionCount?: unknown } };
    if (breakers === undefined && typeof x.state === 'function' && typeof x.states === 'function') breakers = o as BreakerReader;
    if (outlier === undefined && typeof x.detector?.ejectionCount === 'function') outlier = x.detector as EjectionReader;
  }
  return { breakers, outlier };
}

export interface EndpointView {
  readonly address: string;
  readonly state: EndpointState;
  readonly available: boolean;
  /** Why it is not available (absent when it is). */
  readonly why?: string;
  readonly health: string;
  readonly weight: number;
  readonly tags: readonly string[];
  readonly ejected: boolean;
  readonly ejected_for_ms?: number;
  readonly ejections?: number;
  readonly breaker?: string;
  readonly breaker_open: boolean;
  readonly active_requests: number;
  readonly ewma_ms: number;
  readonly requests_total: number;
  readonly errors_total: number;
  /** The balancer's score (lower is better), when the balancer scores. */
  readonly score?: number;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

export function endpointView(cluster: Cluster, ep: Endpoint, now: number, readers: ClusterReaders = readersOf(cluster)): EndpointView {
  const breaker = readers.breakers?.state(ep);
  const ejectedFor = ep.ejectedUntil > now ? ep.ejectedUntil - now : 0;
  const ejections = readers.outlier?.ejectionCount(ep);
  let state: EndpointState = 'available';
  let why: string | undefined;
  if (!ep.live) { state = 'removed'; why = 'removed by discovery; requests in flight finish'; }
  else if (ep.spec.health === 'critical') { state = 'critical'; why = 'its health checks are critical (discovery)'; }
  else if (ejectedFor > 0) {
    state = 'ejected';
    why = `ejected by outlier detection for another ${Math.ceil(ejectedFor / 1000)} s${ejections ? ` (ejection #${ejections})` : ''}`;
  } else if (ep.breakerOpen) {
    state = breaker === 'half_open' ? 'breaker_half_open' : 'breaker_open';
    why = state === 'breaker_open'
      ? 'its circuit breaker is open (failure rate over the threshold); one probe is let through after the reset timeout'
      : 'its circuit breaker is half-open and a probe request is in flight';
  } else if (breaker === 'half_open') {
    state = 'breaker_half_open'; // probe allowed: available
  }
  const score = cluster.balancer.score?.(ep);
  return {
    address: ep.key, state, available: ep.available(now), ...(why === undefined ? {} : { why }),
    health: ep.spec.health, weight: ep.spec.weight, tags: ep.spec.tags,
    ejected: ejectedFor > 0, ...(ejectedFor > 0 ? { ejected_for_ms: Math.round(ejectedFor) } : {}),
    ...(ejections === undefined ? {} : { ejections }),
    ...(breaker === undefined ? {} : { breaker }), breaker_open: ep.breakerOpen,
    active_requests: ep.active, ewma_ms: round(ep.ewmaMs), requests_total: ep.requests, errors_total: ep.failures,
    ...(score === undefined || !Number.isFinite(score) ? {} : { score: round(score) }),
  };
}
