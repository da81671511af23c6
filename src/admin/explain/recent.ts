/**
 * /explain?request_id=: a recent real request, from the agent's bounded
 * ring (telemetry/recent-requests.ts): the attempts made, the endpoint of
 * each and why it failed, and the final outcome, each reason with its help
 * line from the catalogue.
 */
import { Reasons } from '../../core/errors.ts';
import type { AttemptRecord, RequestRecord } from '../../telemetry/recent-requests.ts';

function attemptWhy(a: AttemptRecord): string {
  if (a.reason !== undefined) return `${a.reason}: ${Reasons[a.reason].help}`;
  if (a.ok) return `the upstream answered ${a.status}`;
  if (a.status >= 500) return `the upstream answered ${a.status} (a failure for outlier detection and breakers)`;
  return `failed with status ${a.status}`;
}

export function explainRecorded(r: RequestRecord): Record<string, unknown> {
  const failed = r.reason !== undefined || r.status >= 500 || r.status === 0;
  const final = r.reason !== undefined
    ? { outcome: 'failed', reason: r.reason, status: r.status, why: Reasons[r.reason].help }
    : { outcome: failed ? 'failed' : 'succeeded', reason: null, status: r.status, why: `the upstream answered ${r.status}` };
  return {
    request_id: r.requestId,
    at: new Date(r.at).toISOString(),
    direction: r.direction, listener: r.listener, upstream: r.upstream, method: r.method, path: r.path,
    route: r.route ?? null,
    span_id: r.spanId || null,
    duration_ms: r.durationMs,
    attempts_made: r.attemptsMade,
    attempts: r.attempts.map((a, i) => ({ attempt: i + 1, endpoint: a.endpoint, ok: a.ok, status: a.status, reason: a.reason ?? null, latency_ms: a.latencyMs, why: attemptWhy(a) })),
    ...(r.attemptsMade > r.attempts.length ? { attempts_not_kept: r.attemptsMade - r.attempts.length } : {}),
    ...(r.retryDecision !== undefined ? { retry_decision: r.retryDecision } : {}),
    final,
    endpoints_tried: [...new Set(r.attempts.map((a) => a.endpoint))],
  };
}
