/**
 * Discovery: one interface, two implementations (the static registry file,
 * which is the embedded default, and Consul).
 *
 * A resolver turns a service name into a stream of *complete* endpoint sets.
 * Each yielded set replaces the previous one; the balancer's endpoint set
 * applies the diff (keeping state and in-flight requests of endpoints that
 * remain). Like Consul's `connect.Resolver`, an endpoint carries the SPIFFE
 * identity it is expected to present.
 *
 * Static stability: a resolver never yields an empty set because its source
 * blinked (Consul down, garbage answer). It keeps the last good set and
 * reports staleness instead; an empty set is yielded only when the source
 * really says the service has no instances.
 */

export type Health = 'passing' | 'warning' | 'critical';

export interface EndpointSpec {
  readonly address: string;
  readonly port: number;
  /** Relative weight for weighted balancing (Consul Weights.Passing, registry `weight`). Default 1. */
  readonly weight: number;
  readonly tags: readonly string[];
  readonly health: Health;
  /** Expected SPIFFE ID of the endpoint's agent; undefined = derive from the service name. */
  readonly identity?: string;
  /** Free-form metadata (Consul ServiceMeta, registry `meta`). */
  readonly meta?: Readonly<Record<string, string>>;
  /** Datacenter, when the source knows it. */
  readonly datacenter?: string;
}

export interface EndpointSetUpdate {
  readonly service: string;
  readonly endpoints: readonly EndpointSpec[];
  /** Where the set came from, for /explain and logs: e.g. 'static:config/registry.yaml' or 'consul:health/connect'. */
  readonly source: string;
}

/** What /ready, /clusters and the staleness gauge read about a watch. */
export interface WatchStatus {
  readonly service: string;
  /** Has at least one set been yielded? */
  readonly synced: boolean;
  /** ms timestamp (Date.now()) of the last successful contact with the source, or undefined. */
  readonly lastSuccessAt: number | undefined;
  /** Last error talking to the source (undefined when healthy). */
  readonly lastError: string | undefined;
}

export interface Resolver {
  /** 'static' | 'consul' */
  readonly kind: string;
  /**
   * Watch one service. Yields a full set as soon as it is known, then again on
   * every change. Ends when `signal` aborts or the resolver closes.
   */
  watch(service: string, signal: AbortSignal): AsyncIterable<EndpointSetUpdate>;
  status(service: string): WatchStatus;
  close(): Promise<void>;
}

/** The endpoint key used everywhere (metrics label `endpoint`, /clusters, breaker and outlier state). */
export function endpointKey(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
