/**
 * The runtime state of one endpoint of one upstream: what the balancer,
 * breakers, outlier detection and /clusters read and update.
 *
 * An Endpoint object lives as long as discovery keeps its key; a new set from
 * discovery updates `spec` in place, so state and in-flight requests survive.
 */
import { endpointKey, type EndpointSpec } from '../discovery/types.ts';

export class Endpoint {
  readonly key: string;
  /** The service this endpoint belongs to (the expected SPIFFE identity derives from it). */
  readonly service: string;
  spec: EndpointSpec;
  /** performance.now() when this endpoint joined the set (slow start). */
  readonly addedAt: number;
  /** Requests in flight now. */
  active = 0;
  /** Peak-EWMA latency estimate in ms (0 = no sample yet). */
  ewmaMs = 0;
  /** performance.now() of the last EWMA update. */
  ewmaAt = 0;
  /** Outlier ejection: ejected until this performance.now() time (0 = not ejected). */
  ejectedUntil = 0;
  /** Per-endpoint breaker open (the balancer skips it). */
  breakerOpen = false;
  /** Set to false when discovery removed it; in-flight requests finish. */
  live = true;
  requests = 0;
  failures = 0;

  constructor(spec: EndpointSpec, now: number, service = '') {
    this.key = endpointKey(spec);
    this.service = service;
    this.spec = spec;
    this.addedAt = now;
  }

  get healthy(): boolean {
    return this.spec.health !== 'critical';
  }

  /** Usable for new requests at time `now`: healthy, not ejected, breaker closed. */
  available(now: number): boolean {
    return this.live && this.spec.health !== 'critical' && !this.breakerOpen && this.ejectedUntil <= now;
  }
}
