/** Backoff, roll-up, policy parsing and the directive hub. */
import fc from 'fast-check';
import t from 'tap';
import { Backoff } from '../../../src/control/backoff.ts';
import { DirectiveHub } from '../../../src/coordinator/directives.ts';
import { parsePolicy, policyToJson } from '../../../src/coordinator/policy.ts';
import { rollup } from '../../../src/coordinator/rollup.ts';
import type { Directive } from '../../../src/proto/types.ts';

t.test('backoff grows, is capped, jitters, resets', async (t) => {
  const lo = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0);
  const hi = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 1);
  t.same([1, 2, 3, 4, 5, 6].map(() => hi.next()), [100, 200, 400, 800, 1000, 1000]);
  t.same([1, 2].map(() => lo.next()), [50, 50], 'never below half the initial delay');
  hi.reset();
  t.equal(hi.next(), 100);
  t.throws(() => new Backoff({ initialMs: 0, maxMs: 1 }));
});

t.test('rollup', async (t) => {
  t.equal(rollup([]), null);
  t.same(rollup([{ requests: 0, rps: 0, successRate: 1, p50Ms: 0, p99Ms: 0 }]), { requests: 0, rps: 0, successRate: 1, p50Ms: 0, p99Ms: 0 });
  const m = fc.record({ requests: fc.integer({ min: 0, max: 1e6 }), rps: fc.double({ min: 0, max: 1e5, noNaN: true }), successRate: fc.double({ min: 0, max: 1, noNaN: true }), p50Ms: fc.double({ min: 0, max: 1e4, noNaN: true }), p99Ms: fc.double({ min: 0, max: 1e4, noNaN: true }) });
  fc.assert(fc.property(fc.array(m, { minLength: 1, maxLength: 20 }), (parts) => {
    const r = rollup(parts)!;
    const busy = parts.filter((p) => p.requests > 0);
    if (r.requests !== parts.reduce((s, p) => s + p.requests, 0)) return false;
    if (busy.length === 0) return r.successRate === 1 && r.p99Ms === 0;
    const eps = 1e-9;
    return r.successRate >= Math.min(...busy.map((p) => p.successRate)) - eps && r.successRate <= Math.max(...busy.map((p) => p.successRate)) + eps
      && r.p99Ms === Math.max(...busy.map((p) => p.p99Ms));
  }));
  t.pass('success rate stays between the parts; p99 is the worst busy part');
});

t.test('policy', async (t) => {
  const p = parsePolicy({ authz: [{ source: 'web', destination: '*', action: 'deny', path_prefixes: ['/admin'] }], rate_limits: [{ service: 'api', requests_per_second: 5 }] });
  t.same(p, { defaultAuthz: 'allow', authz: [{ source: 'web', destination: '*', action: 'deny', pathPrefixes: ['/admin'], methods: [] }], rateLimits: [{ service: 'api', pathPrefix: '', requestsPerSecond: 5, burst: 0 }] });
  t.same(parsePolicy(policyToJson(p)), p, 'round trip');
  t.same(parsePolicy(undefined), { defaultAuthz: 'allow', authz: [], rateLimits: [] });
  t.throws(() => parsePolicy({ authz: [{ source: 'web', destination: 'api', action: 'allow', methods: ['get'] }] }, 'p.yaml'), /p\.yaml: authz\.0\.methods\.0/);
  t.throws(() => parsePolicy({ extra: 1 }), /invalid policy/);
});

t.test('directive hub', async (t) => {
  const hub = new DirectiveHub();
  const got: Record<string, Directive[]> = { a: [], b: [] };
  const unA = hub.subscribe('a', 'web', (d) => got.a!.push(d));
  hub.subscribe('b', 'api', (d) => got.b!.push(d));
  t.equal(got.a![0]!.version, 1, 'policy on subscribe');
  t.equal(hub.setPolicy({ defaultAuthz: 'deny', authz: [], rateLimits: [] }), 2);
  t.equal(got.b!.at(-1)!.policy!.defaultAuthz, 'deny');
  t.equal(hub.rotateCertificate({ service: 'api' }, 'r'), 1);
  t.same(got.b!.at(-1)!.rotateCertificate, { reason: 'r' });
  unA();
  t.equal(hub.rotateCertificate({}, 'all'), 1, 'unsubscribed streams get nothing');
  t.equal(hub.connected, 1);
});
