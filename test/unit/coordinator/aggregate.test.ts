/**
 * buildView: roll-ups, liveness, external destinations, markers and alerts,
 * driven with explicit times (no sleeping).
 */
import t from 'tap';
import { buildView } from '../../../src/coordinator/aggregate.ts';
import { AlertTracker, defaultAlertRules } from '../../../src/coordinator/alerts.ts';
import { defaultLiveness } from '../../../src/coordinator/liveness.ts';
import type { AgentRecord } from '../../../src/coordinator/model.ts';
import { edge, upstream } from './support.ts';

const NOW = 1_800_000_000_000;
const opts = { liveness: defaultLiveness, alerts: defaultAlertRules, replica: { id: 'r', sharing: 'local' as const, note: '' } };

function rec(p: Partial<AgentRecord> & { agentId: string; service: string }): AgentRecord {
  return {
    instance: p.agentId, version: 'v1', spiffeId: `spiffe://aim.local/ns/default/dc/dc1/svc/${p.service}`, replica: 'r',
    intervalMs: 1000, connectedAtMs: NOW - 60_000, lastSeenMs: NOW, lastSentAtMs: NOW, seq: 1,
    listeners: [{ name: 'in', direction: 'inbound', address: '127.0.0.1', port: 1, protocol: 'http', mtls: true }],
    upstreams: [], edges: [], inbound: null, cert: null, readiness: { ready: true, reasons: [] },
    ...p,
  };
}

t.test('edges roll up over live instances only', async (t) => {
  const v = buildView([
    rec({ agentId: 'w1', service: 'web', edges: [edge('api', 10, 1, { retries: 2, retryBudgetRemaining: 0.9 })], upstreams: [upstream('api', ['healthy', 'breaker_open'])] }),
    rec({ agentId: 'w2', service: 'web', edges: [edge('api', 30, 0.9, { retries: 5, retryBudgetRemaining: 0.4, mtls: false })], upstreams: [upstream('api', ['ejected', 'breaker_open'])] }),
    rec({ agentId: 'w3', service: 'web', lastSeenMs: NOW - 3500, edges: [edge('api', 1000, 0)], upstreams: [upstream('api', ['breaker_open', 'breaker_open', 'breaker_open'])] }),
  ], NOW, opts, new AlertTracker());
  const e = v.edges[0]!;
  t.equal(e.metrics!.rps, 40, 'the stale instance is left out');
  t.equal(e.metrics!.requests, 200);
  t.ok(Math.abs(e.metrics!.successRate - 0.925) < 1e-9, 'weighted by requests');
  t.equal(e.retries, 7);
  t.equal(e.retryBudgetRemaining, 0.4, 'the most burnt budget');
  t.equal(e.mtls, 'mixed');
  t.equal(e.breakersOpen, 1, 'distinct endpoints, from live instances');
  t.equal(e.ejected, 1);
  t.equal(e.endpoints, 3, 'topology includes what the stale instance saw');
  const web = v.services.find((s) => s.name === 'web')!;
  t.match(web, { instances: 3, up: 2, stale: 1, ready: 2, mtls: 'on' });
  const api = v.services.find((s) => s.name === 'api')!;
  t.match(api, { instances: 0, mtls: 'unknown' }, 'an unmeshed destination is still a service');
  t.equal(api.metrics!.rps, 40, 'its metrics come from the edges into it');
  t.equal(v.totals.staleAgents, 1);
  t.same(v.alerts.map((a) => a.kind).sort(), ['agent_stale', 'breaker_open', 'endpoint_ejected', 'slo_breach']);
});

t.test('gone agents vanish, inbound metrics win over edges, certificates are tracked', async (t) => {
  const v = buildView([
    rec({ agentId: 'a1', service: 'api', inbound: { requests: 100, rps: 20, successRate: 1, p50Ms: 2, p99Ms: 9 },
      cert: { spiffeId: 'x', serial: '1', notBeforeMs: NOW - 9000, notAfterMs: NOW + 1000 } }),
    rec({ agentId: 'a2', service: 'api', inbound: { requests: 100, rps: 20, successRate: 0.5, p50Ms: 4, p99Ms: 90 },
      cert: { spiffeId: 'x', serial: '2', notBeforeMs: NOW - 1000, notAfterMs: NOW + 9000 } }),
    rec({ agentId: 'gone', service: 'api', lastSeenMs: NOW - 13_000 }),
    rec({ agentId: 'w1', service: 'web', edges: [edge('api', 1, 1)] }),
  ], NOW, opts, new AlertTracker());
  const api = v.services.find((s) => s.name === 'api')!;
  t.equal(api.instances, 2, 'the agent silent for 13 intervals is gone');
  t.same(api.metrics, { requests: 200, rps: 40, successRate: 0.75, p50Ms: 3, p99Ms: 90 });
  t.equal(api.certExpiresAtMs, NOW + 1000);
  t.equal(api.certInRenewalWindow, true);
  const certAlerts = v.alerts.filter((a) => a.kind === 'cert_renewal');
  t.same(certAlerts.map((a) => a.agentId), ['a1'], 'only the leaf inside its renewal window');
  t.equal(v.alerts[0]!.severity, 'critical', 'critical alerts first');
  t.equal(v.totals.agents, 3);
});
