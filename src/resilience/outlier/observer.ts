/**
 * Outlier detection as an AttemptObserver: the router reports every attempt,
 * the detector counts it, and the interval work runs lazily when due.
 */
import type { RequestCtx } from '../../core/filter.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { AttemptObserver, AttemptResult } from '../../balancer/types.ts';
import type { OutlierDetector } from './detector.ts';

export class OutlierObserver implements AttemptObserver {
  readonly detector: OutlierDetector;

  constructor(detector: OutlierDetector) {
    this.detector = detector;
  }

  onAttemptEnd(ep: Endpoint, _ctx: RequestCtx, result: AttemptResult): void {
    this.detector.record(ep, result);
    this.detector.maybeTick();
  }
}
