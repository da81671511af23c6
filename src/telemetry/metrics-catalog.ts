/**
 * The catalogue of every metric the agent exports: name, type, labels, help
 * and who feeds it. `metrics.ts` creates its metrics from these entries (so
 * help text and label names live in one place), the README table is
 * generated from it (`metricsMarkdown()` in metrics-docs.ts), and a test
 * checks a running agent's registry against it, both ways.
 *
 * Label cardinality is bounded by construction: every label's value set is
 * listed in `labelValues` below. No raw paths, request ids, peer addresses
 * or free-form strings ever become label values.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export const labelValues = {
  direction: '`inbound` | `outbound`',
  target: 'the upstream name (outbound, from config) or this service\'s name (inbound)',
  classification: '`success` | `failure` (failure: status 5xx or 0, or any proxy reason)',
  status_code: 'the HTTP status sent downstream (100-599), `0` when none was sent',
  reason: 'a reason of the catalogue in src/core/errors.ts, `""` when the upstream answered',
  kind: '`connections` | `pending` | `requests` | `retries`',
  endpoint: 'an endpoint `address:port` of a configured upstream (bounded by discovery; series of removed endpoints disappear)',
  peer: 'the caller\'s verified SPIFFE ID (the first 100 distinct callers), then `other`; `none` without a client certificate',
  result: 'identity: `success` | `failure`; protocol detection: `http1` | `h2c` | `tls` | `tcp` | `opaque_port` | `closed`',
} as const;

export type LabelName = keyof typeof labelValues;

export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly labels: readonly LabelName[];
  readonly help: string;
  /** What feeds it (README column). */
  readonly source: string;
  /** Created by another module (listeners/detect.ts); documented here, not created by createMetrics. */
  readonly external?: true;
}

const DT = ['direction', 'target'] as const;

export const metricsCatalog: readonly MetricSpec[] = [
  // --- traffic: the metrics filter, first in every HTTP stack ---
  { name: 'request_total', type: 'counter', labels: DT, source: 'metrics filter',
    help: 'HTTP requests received (one per request head; HTTP/1 requests and HTTP/2 streams alike)' },
  { name: 'response_total', type: 'counter', labels: [...DT, 'classification', 'status_code', 'reason'], source: 'metrics filter',
    help: 'HTTP responses sent downstream, by classification, status code and proxy reason ("" when the upstream answered)' },
  { name: 'response_latency_ms', type: 'histogram', labels: DT, source: 'metrics filter',
    help: 'Time from the request head to the response head sent downstream (time to first byte), ms' },
  // --- connections: the connection tracker of each listener ---
  { name: 'tcp_open_total', type: 'counter', labels: DT, source: 'listener', help: 'Downstream TCP connections accepted' },
  { name: 'tcp_close_total', type: 'counter', labels: DT, source: 'listener', help: 'Downstream TCP connections closed' },
  { name: 'tcp_open_connections', type: 'gauge', labels: DT, source: 'listener', help: 'Downstream TCP connections open now' },
  { name: 'tcp_read_bytes_total', type: 'counter', labels: DT, source: 'listener',
    help: 'Bytes read from downstream connections (all protocols; live connections are folded in at each scrape)' },
  { name: 'tcp_write_bytes_total', type: 'counter', labels: DT, source: 'listener',
    help: 'Bytes written to downstream connections (all protocols; live connections are folded in at each scrape)' },
  // --- resilience: read at scrape time from the stats objects resilience keeps ---
  { name: 'retry_total', type: 'counter', labels: DT, source: 'resilience stats', help: 'Retries made (attempts after the first)' },
  { name: 'retry_budget_exhausted_total', type: 'counter', labels: DT, source: 'resilience stats',
    help: 'Retries refused because the retry budget was exhausted' },
  { name: 'overflow_total', type: 'counter', labels: [...DT, 'kind'], source: 'resilience stats',
    help: 'Requests or connections refused by a resource limit (circuit breaking), by kind' },
  { name: 'circuit_breaker_open', type: 'gauge', labels: [...DT, 'endpoint'], source: 'resilience stats',
    help: '1 while the endpoint\'s circuit breaker is open (0 closed or half-open)' },
  { name: 'outlier_ejections_active', type: 'gauge', labels: DT, source: 'resilience stats', help: 'Endpoints ejected by outlier detection now' },
  { name: 'inbound_peer_requests_total', type: 'counter', labels: ['target', 'peer'], source: 'peer stats',
    help: 'Inbound requests (and TCP connections) by caller identity; the peer label is bounded' },
  { name: 'ratelimit_rejected_total', type: 'counter', labels: DT, source: 'resilience stats', help: 'Requests refused by a rate limit (429)' },
  // --- identity ---
  { name: 'identity_cert_expiration_timestamp_seconds', type: 'gauge', labels: [], source: 'identity signals',
    help: 'Expiry of the workload certificate in force, Unix seconds (0 before the first certificate)' },
  { name: 'identity_cert_refresh_total', type: 'counter', labels: ['result'], source: 'identity signals',
    help: 'Workload certificate refreshes, by result' },
  // --- discovery ---
  { name: 'discovery_staleness_seconds', type: 'gauge', labels: ['target'], source: 'resolver status',
    help: 'Seconds since discovery last heard from its source for this upstream (+Inf before the first success)' },
  // --- protocol detection (listeners/detect.ts registers these) ---
  { name: 'protocol_detect_total', type: 'counter', labels: ['result'], source: 'protocol detection', external: true,
    help: 'Connections classified by protocol detection, by result' },
  { name: 'protocol_detect_duration_ms', type: 'histogram', labels: ['result'], source: 'protocol detection', external: true,
    help: 'Time from accept to a detection decision, ms' },
  { name: 'protocol_detect_timeout_total', type: 'counter', labels: [], source: 'protocol detection', external: true,
    help: 'Detections that timed out waiting for the client to speak (served as opaque TCP)' },
];

/** prom-client's default process and Node.js metrics (CPU, memory, event loop lag, GC, handles). */
export const processMetricPrefixes: readonly string[] = ['process_', 'nodejs_'];

export function metricSpec(name: string): MetricSpec {
  const s = metricsCatalog.find((m) => m.name === name);
  if (s === undefined) throw new Error(`metric ${name} is not in the catalogue`);
  return s;
}

/** Is this registry metric documented (a catalogue entry or a process metric)? */
export function isCatalogued(name: string): boolean {
  return metricsCatalog.some((m) => m.name === name) || processMetricPrefixes.some((p) => name.startsWith(p));
}
