/**
 * The agent's Prometheus registry (prom-client), with Linkerd-style names and
 * a `direction` label. Label values are bounded: directions, configured
 * upstream names, status codes, classifications and the reason catalogue —
 * never paths, request ids or raw peer addresses.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MeshMetrics {
  readonly registry: Registry;
  readonly requestTotal: Counter<'direction' | 'target'>;
  readonly responseTotal: Counter<'direction' | 'target' | 'classification' | 'status_code' | 'reason'>;
  readonly responseLatency: Histogram<'direction' | 'target'>;
  readonly tcpOpenTotal: Counter<'direction' | 'target'>;
  readonly tcpCloseTotal: Counter<'direction' | 'target'>;
  readonly tcpOpenConnections: Gauge<'direction' | 'target'>;
  readonly tcpReadBytes: Counter<'direction' | 'target'>;
  readonly tcpWriteBytes: Counter<'direction' | 'target'>;
}

export function createMetrics(opts: { processMetrics?: boolean } = {}): MeshMetrics {
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const labels = ['direction', 'target'] as const;
  return {
    registry,
    requestTotal: new Counter({ name: 'request_total', help: 'Requests received (HTTP) by direction and target service', labelNames: labels, registers: [registry] }),
    responseTotal: new Counter({ name: 'response_total', help: 'Responses sent, by classification (success|failure), status code and proxy reason ("" when the upstream answered)', labelNames: [...labels, 'classification', 'status_code', 'reason'], registers: [registry] }),
    responseLatency: new Histogram({ name: 'response_latency_ms', help: 'Time to the response head, ms', labelNames: labels, buckets: [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000], registers: [registry] }),
    tcpOpenTotal: new Counter({ name: 'tcp_open_total', help: 'TCP connections opened', labelNames: labels, registers: [registry] }),
    tcpCloseTotal: new Counter({ name: 'tcp_close_total', help: 'TCP connections closed', labelNames: labels, registers: [registry] }),
    tcpOpenConnections: new Gauge({ name: 'tcp_open_connections', help: 'TCP connections open now', labelNames: labels, registers: [registry] }),
    tcpReadBytes: new Counter({ name: 'tcp_read_bytes_total', help: 'Bytes read from downstream', labelNames: labels, registers: [registry] }),
    tcpWriteBytes: new Counter({ name: 'tcp_write_bytes_total', help: 'Bytes written to downstream', labelNames: labels, registers: [registry] }),
  };
}
