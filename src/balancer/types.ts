/**
 * Balancer contract (Envoy's `LoadBalancer::chooseHost`): pick one endpoint
 * of an upstream for one attempt. Synchronous and O(1)-ish per call: it runs on
 * the hot path for every request and every retry.
 *
 * `exclude` is the endpoint the previous attempt used, so a retry goes to a
 * different endpoint where one exists.
 */
import type { RequestCtx } from '../core/filter.ts';
import type { Reason } from '../core/errors.ts';
import type { Endpoint } from './endpoint.ts';

export interface Balancer {
  /** 'least_request' | 'round_robin' | 'random' | 'ring_hash' */
  readonly kind: string;
  pick(ctx: RequestCtx, exclude: Endpoint | undefined): Endpoint | undefined;
  /** For /explain and /clusters: the balancer's score of an endpoint (lower is better), if it scores. */
  score?(ep: Endpoint): number;
}

/** What one attempt against one endpoint came to. */
export interface AttemptResult {
  /** The response was a success by the upstream's classification (not 5xx, no reset). */
  readonly ok: boolean;
  /** HTTP status (0 when no response head arrived). */
  readonly status: number;
  /** The proxy-side failure, if any (connect failed, reset, timeout...). */
  readonly reason: Reason | undefined;
  /** Time to response head (or to failure), ms. */
  readonly latencyMs: number;
}

/** Fed by the router after every attempt: EWMA, breakers, outlier detection, budgets. */
export interface AttemptObserver {
  onAttemptStart?(ep: Endpoint, ctx: RequestCtx): void;
  onAttemptEnd(ep: Endpoint, ctx: RequestCtx, result: AttemptResult): void;
}
