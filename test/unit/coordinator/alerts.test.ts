/** Alert rules and the since-tracker. */
import t from 'tap';
import { AlertTracker, certInRenewalWindow, defaultAlertRules, evaluateAlerts, type PendingAlert } from '../../../src/coordinator/alerts.ts';
import type { InstanceView } from '../../../src/coordinator/model.ts';

t.test('renewal window is the last fraction of the lifetime', async (t) => {
  const cert = { spiffeId: 'x', serial: '1', notBeforeMs: 0, notAfterMs: 1000 };
  t.equal(certInRenewalWindow(cert, 699, 0.3), false);
  t.equal(certInRenewalWindow(cert, 700, 0.3), true);
  t.equal(certInRenewalWindow(cert, 2000, 0.3), true);
});

t.test('slo alerts need enough requests and honour per-service objectives', async (t) => {
  const m = (requests: number, successRate: number) => ({ requests, rps: 1, successRate, p50Ms: 1, p99Ms: 1 });
  const run = (metrics: Map<string, ReturnType<typeof m> | null>, objectives = {}) =>
    evaluateAlerts({ instances: new Map<string, InstanceView[]>(), edges: [], serviceMetrics: metrics }, 0, { ...defaultAlertRules, objectives });
  t.same(run(new Map([['a', m(10, 0.5)]])), [], 'ten requests are noise');
  t.equal(run(new Map([['a', m(100, 0.985)]]))[0]!.kind, 'slo_breach');
  t.same(run(new Map([['a', m(100, 0.985)]]), { a: 0.98 }), [], 'per-service objective');
  t.same(run(new Map([['a', null]])), []);
});

t.test('the tracker keeps since for firing alerts and forgets resolved ones', async (t) => {
  const tr = new AlertTracker();
  const a: PendingAlert = { id: 'x', kind: 'breaker_open', severity: 'warning', service: 's', message: 'm' };
  const b: PendingAlert = { id: 'y', kind: 'slo_breach', severity: 'critical', service: 's', message: 'm' };
  t.equal(tr.stamp([a], 100)[0]!.sinceMs, 100);
  const both = tr.stamp([a, b], 200);
  t.same(both.map((x) => [x.id, x.sinceMs]), [['y', 200], ['x', 100]], 'critical first, since kept');
  tr.stamp([b], 300);
  t.equal(tr.stamp([a, b], 400).find((x) => x.id === 'x')!.sinceMs, 400, 'a resolved alert starts over');
});
