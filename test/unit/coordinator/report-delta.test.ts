/**
 * Snapshot then deltas: what the agent cuts (src/control/snapshot.ts) and how
 * the coordinator merges it back (src/coordinator/merge-report.ts) must give
 * the agent's state back exactly, whatever changes in between.
 */
import fc from 'fast-check';
import t from 'tap';
import { mergeReport, reportProblem } from '../../../src/coordinator/merge-report.ts';
import type { AgentRecord } from '../../../src/coordinator/model.ts';
import { type AgentSnapshot, cutReport, type SentSections } from '../../../src/control/snapshot.ts';
import { edge, upstream } from './support.ts';

const base: AgentSnapshot = {
  agentId: 'web-1', service: 'web', instance: 'web-1', version: 'v1',
  listeners: [{ name: 'in', direction: 'inbound', address: '0.0.0.0', port: 1, protocol: 'http', mtls: true }],
  upstreams: [upstream('api', ['healthy'])],
  edges: [edge('api', 5, 1)],
  cert: { spiffeId: 'spiffe://aim.local/ns/default/dc/dc1/svc/web', serial: 'a', notBeforeMs: 1, notAfterMs: 2 },
  readiness: { ready: true, reasons: [] },
};
const ctx = { spiffeId: 's', replica: 'r', nowMs: 10, connectedAtMs: 5 };
const meta = (seq: number) => ({ seq, intervalMs: 1000, sentAtMs: seq });

t.test('first report is a snapshot; later ones carry only changed sections', async (t) => {
  const first = cutReport(base, undefined, meta(1));
  t.equal(first.report.snapshot, true);
  t.ok(first.report.listeners && first.report.upstreams && first.report.cert && first.report.readiness);
  const second = cutReport(base, first.sections, meta(2));
  t.equal(second.report.snapshot, false);
  t.equal(second.report.listeners, null);
  t.equal(second.report.upstreams, null);
  t.equal(second.report.cert, null);
  t.equal(second.report.readiness, null);
  t.equal(second.report.edges.length, 1, 'interval metrics every time');
  const changed = cutReport({ ...base, upstreams: [upstream('api', ['breaker_open'])] }, second.sections, meta(3));
  t.same(changed.report.upstreams!.items[0]!.endpoints[0]!.state, 'BREAKER_OPEN');
  t.equal(changed.report.listeners, null);
  const noCert = cutReport({ ...base, cert: undefined }, first.sections, meta(4));
  t.equal(noCert.report.cert!.spiffeId, '', 'losing the cert is a visible change');
  t.equal(mergeReport(undefined, noCert.report, ctx).cert, null);
});

const states = fc.constantFrom('healthy' as const, 'ejected' as const, 'breaker_open' as const);
const snapshotArb = fc.record({
  version: fc.constantFrom('v1', 'v2'),
  upstreams: fc.array(fc.record({ service: fc.constantFrom('api', 'db'), endpoints: fc.array(fc.record({ address: fc.constant('10.0.0.1'), port: fc.integer({ min: 1, max: 9 }), state: states }), { maxLength: 3 }) }), { maxLength: 2 }),
  ready: fc.boolean(),
  reasons: fc.array(fc.constantFrom('no_endpoints', 'no_identity'), { maxLength: 2 }),
  serial: fc.constantFrom('a', 'b'),
  rps: fc.double({ min: 0, max: 1000, noNaN: true }),
});

t.test('merging the cut reports reproduces every snapshot (property)', async (t) => {
  fc.assert(fc.property(fc.array(snapshotArb, { minLength: 1, maxLength: 8 }), (seq) => {
    let sections: SentSections | undefined;
    let rec: AgentRecord | undefined;
    seq.forEach((s, i) => {
      const snap: AgentSnapshot = {
        ...base, version: s.version, upstreams: s.upstreams, readiness: { ready: s.ready, reasons: s.reasons },
        cert: { ...base.cert!, serial: s.serial }, edges: [edge('api', s.rps, 1)],
      };
      const cut = cutReport(snap, sections, meta(i + 1));
      sections = cut.sections;
      rec = mergeReport(rec, cut.report, ctx);
      if (JSON.stringify([rec.version, rec.upstreams, rec.readiness, rec.cert, rec.listeners, rec.edges]) !==
        JSON.stringify([snap.version, snap.upstreams, snap.readiness, snap.cert, snap.listeners, snap.edges])) {
        throw new Error(`diverged at report ${i + 1}`);
      }
    });
  }));
  t.pass('merged state equals the agent state after every report');
});

t.test('reportProblem bounds what an agent may send', async (t) => {
  const r = cutReport(base, undefined, meta(1)).report;
  t.equal(reportProblem(r, 'web'), undefined);
  t.match(reportProblem(r, 'api'), /does not match/);
  t.match(reportProblem({ ...r, agentId: '' }, 'web'), /agent_id/);
  t.match(reportProblem({ ...r, intervalMs: 10 }, 'web'), /interval_ms/);
  t.match(reportProblem({ ...r, edges: Array.from({ length: 2000 }, () => r.edges[0]!) }, 'web'), /too many edges/);
  const merged = mergeReport(undefined, { ...r, edges: [{ ...r.edges[0]!, metrics: { requests: -1, rps: Infinity, successRate: 7, p50Ms: NaN, p99Ms: 1 } }] }, ctx);
  t.same(merged.edges[0]!.metrics, { requests: 0, rps: 0, successRate: 1, p50Ms: 0, p99Ms: 1 }, 'numbers clamped');
});
