/**
 * A cluster: everything the router needs to send a request to one upstream
 * service: its live endpoint set (fed by discovery), a balancer, a pool of
 * upstream connections, the observers that learn from each attempt (EWMA,
 * breakers, outlier detection) and the retry decision.
 *
 * Envoy's cluster manager in miniature. One cluster per outbound upstream;
 * the inbound side has one cluster whose only endpoint is the local app.
 */
import type { Balancer, AttemptObserver, AttemptResult } from '../balancer/types.ts';
import type { EndpointSet } from '../balancer/endpoint-set.ts';
import type { Endpoint } from '../balancer/endpoint.ts';
import type { RequestCtx } from '../core/filter.ts';
import type { ConnectionPool } from './upstream/pool.ts';
import type { UpstreamResilience } from '../resilience/upstream.ts';

export interface AttemptInfo {
  /** Did any byte of the request reach the upstream socket? */
  readonly requestBytesSent: boolean;
  /** Can the request be sent again (no body, or its body is buffered)? */
  readonly replayable: boolean;
  /** grpc-status of the response when known. */
  readonly grpcStatus?: number;
  /** The response's Retry-After value. */
  readonly retryAfter?: string | undefined;
  /** The request deadline (performance.now() ms); absent = none. */
  readonly deadline?: number;
}

export interface RetryDecider {
  /**
   * After a failed attempt: ms to wait before the next attempt (0 = now), or
   * -1 to give up and answer with the failure.
   */
  next(ctx: RequestCtx, result: AttemptResult, info: AttemptInfo): number;
  /** Called when a retry is actually made (budgets, counters). */
  onRetry?(ctx: RequestCtx): void;
}

/** Until the resilience layer is configured: retry only what never reached the upstream. */
export class ConnectFailureRetry implements RetryDecider {
  readonly maxAttempts: number;
  retries = 0;
  constructor(maxAttempts: number) { this.maxAttempts = maxAttempts; }
  next(ctx: RequestCtx, result: AttemptResult, info: AttemptInfo): number {
    if (ctx.attempts >= this.maxAttempts || info.requestBytesSent) return -1;
    return result.reason === 'upstream_connect_failed' || result.reason === 'upstream_connect_timeout' ? 0 : -1;
  }
  onRetry(): void { this.retries++; }
}

export interface ClusterTimeouts {
  /** Overall request timeout when the request has no route policy. 0 = none. */
  readonly requestMs: number;
}

export class Cluster {
  readonly name: string;
  readonly endpoints: EndpointSet;
  readonly balancer: Balancer;
  readonly pool: ConnectionPool;
  readonly observers: AttemptObserver[];
  readonly retry: RetryDecider;
  readonly timeouts: ClusterTimeouts;
  /** Outbound clusters: limits, routes, breakers, outlier detection, rate limits and their filters. */
  readonly resilience: UpstreamResilience | undefined;
  /** Requests in flight through this cluster. */
  active = 0;
  requests = 0;

  constructor(o: { name: string; endpoints: EndpointSet; balancer: Balancer; pool: ConnectionPool; observers?: AttemptObserver[]; retry: RetryDecider; timeouts: ClusterTimeouts; resilience?: UpstreamResilience }) {
    this.name = o.name;
    this.endpoints = o.endpoints;
    this.balancer = o.balancer;
    this.pool = o.pool;
    this.observers = o.observers ?? [];
    this.retry = o.retry;
    this.timeouts = o.timeouts;
    this.resilience = o.resilience;
    // Endpoints removed by discovery: close their idle connections; in-flight ones finish.
    this.endpoints.onChange((c) => { for (const ep of c.removed) this.pool.closeIdle(ep.key); });
  }

  attemptStarted(ep: Endpoint, ctx: RequestCtx): void {
    ep.active++;
    ep.requests++;
    const obs = this.observers;
    for (let i = 0; i < obs.length; i++) obs[i]!.onAttemptStart?.(ep, ctx);
  }

  attemptEnded(ep: Endpoint, ctx: RequestCtx, result: AttemptResult): void {
    ep.active--;
    if (!result.ok) ep.failures++;
    const obs = this.observers;
    for (let i = 0; i < obs.length; i++) obs[i]!.onAttemptEnd(ep, ctx, result);
  }
}
