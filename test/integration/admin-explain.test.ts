/**
 * Issue 7, test 4: /explain names the right endpoint and the right reason,
 * on real agents driven by real traffic, with the resilience and
 * authorization objects the agent builds from its config:
 *
 *   - an endpoint ejected by outlier detection,
 *   - an endpoint whose circuit breaker is open,
 *   - an exhausted retry budget,
 *   - an authorization denial (inbound intentions),
 *
 * and /explain?request_id= tells what happened to a real request: each
 * attempt, the endpoint it went to, why it failed, the final reason.
 *
 * Each outbound agent's upstream `api` has two endpoints: the app itself
 * (plaintext: mTLS is off in these tests) and a port nobody listens on.
 */
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import { tempRegistry } from '../support/mesh.ts';
import { freePort } from '../support/ports.ts';
import { startHttpUpstream, type HttpUpstream } from '../support/upstreams.ts';

const quietLog = (): pino.Logger => pino({ level: 'info' }, new Writable({ write(_c, _e, cb) { cb(); } }));

interface Setup { agent: RunningAgent; port: number; live: string; dead: string; admin: (path: string) => Promise<any> }

async function outboundWith(t: Test, app: HttpUpstream, upstream: Record<string, unknown>): Promise<Setup> {
  const deadPort = await freePort();
  const reg = tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${app.port} }\n      - { address: 127.0.0.1, port: ${deadPort} }\n`);
  const agent = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', lb: 'round_robin', ...upstream }],
    discovery: { kind: 'static', registry: reg },
    admin: { bind: '127.0.0.1:0' },
    drain_timeout: '1s',
  }, 'test'), { log: quietLog() });
  t.teardown(() => agent.stop());
  const port = agent.agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  const admin = async (path: string): Promise<any> => (await request(`http://127.0.0.1:${agent.adminPort}${path}`)).body.json();
  return { agent, port, live: `127.0.0.1:${app.port}`, dead: `127.0.0.1:${deadPort}`, admin };
}

async function send(port: number, id: string): Promise<number> {
  const r = await request(`http://127.0.0.1:${port}/v1/x`, { headers: { 'x-request-id': id } });
  await r.body.dump();
  return r.statusCode;
}

async function metric(s: Setup, line: RegExp): Promise<string | undefined> {
  const text = await (await request(`http://127.0.0.1:${s.agent.adminPort}/metrics`)).body.text();
  return text.split('\n').find((l) => line.test(l));
}

t.test('an ejected endpoint: explain skips it, says why, and picks the other', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  const s = await outboundWith(t, app, {
    outlier: { consecutive_gateway_failure: 1, consecutive_5xx: 0, base_ejection_time: '60s', max_ejection_percent: 100 },
    breaker: { enabled: false },
  });
  for (let i = 0; i < 4; i++) t.equal(await send(s.port, `ej-${i}`), 200, 'connect failures are retried on the other endpoint');
  const e = await s.admin('/explain?upstream=api&method=GET&path=/v1/x');
  const dead = e.endpoints.find((x: { address: string }) => x.address === s.dead);
  t.match(dead, { state: 'ejected', available: false, ejected: true, why: /ejected by outlier detection for another \d+ s \(ejection #1\)/ });
  t.match(e.endpoints.find((x: { address: string }) => x.address === s.live), { state: 'available', available: true });
  t.match(e.choice, { endpoint: s.live, exact: true, rule: 'round_robin', why: /1 unavailable endpoint is skipped/ });
  t.equal(e.verdict, `sent to ${s.live}`);
  t.equal(await metric(s, /^outlier_ejections_active/), 'outlier_ejections_active{direction="outbound",target="api"} 1');

  // The request that met the dead endpoint: two attempts, the first refused, the second answered.
  const records = await Promise.all([0, 1, 2, 3].map((i) => s.admin(`/explain?request_id=ej-${i}`)));
  const retried = records.find((r) => r.attempts_made === 2);
  t.ok(retried, 'one request was retried');
  t.match(retried.attempts, [
    { attempt: 1, endpoint: s.dead, ok: false, status: 0, reason: 'upstream_connect_failed', why: /^upstream_connect_failed: Connecting to the chosen endpoint failed/ },
    { attempt: 2, endpoint: s.live, ok: true, status: 200, reason: null },
  ]);
  t.same(retried.endpoints_tried, [s.dead, s.live]);
  t.match(retried.final, { outcome: 'succeeded', status: 200, reason: null });
});

t.test('an open circuit breaker: explain names the endpoint and the breaker', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  const s = await outboundWith(t, app, {
    outlier: { enabled: false },
    breaker: { volume_threshold: 1, error_threshold_percentage: 50, reset_timeout: '60s' },
  });
  for (let i = 0; i < 4; i++) t.equal(await send(s.port, `br-${i}`), 200);
  const e = await s.admin('/explain?upstream=api&path=/v1/x');
  t.match(e.endpoints.find((x: { address: string }) => x.address === s.dead), {
    state: 'breaker_open', available: false, breaker: 'open', breaker_open: true, ejected: false, why: /circuit breaker is open/,
  });
  t.match(e.endpoints.find((x: { address: string }) => x.address === s.live), { state: 'available', breaker: 'closed' });
  t.equal(e.choice.endpoint, s.live);
  t.equal(await metric(s, new RegExp(`^circuit_breaker_open\\{.*endpoint="${s.dead}"`)), `circuit_breaker_open{direction="outbound",target="api",endpoint="${s.dead}"} 1`);
  t.equal(await metric(s, new RegExp(`^circuit_breaker_open\\{.*endpoint="${s.live}"`)), `circuit_breaker_open{direction="outbound",target="api",endpoint="${s.live}"} 0`);
  const clusters = await s.admin('/clusters');
  t.match(clusters.find((c: { name: string }) => c.name === 'api').endpoints.find((x: { address: string }) => x.address === s.dead), { breaker_open: true, state: 'breaker_open', errors_total: Number });
});

t.test('an exhausted retry budget: explain says a failure would not be retried, and why', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  const s = await outboundWith(t, app, {
    outlier: { enabled: false },
    breaker: { enabled: false },
    retries: { budget: { ratio: 0, min_per_second: 0 } },
  });
  // Round robin alternates between the two endpoints: two of four requests meet the dead one, and are not retried.
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push(await send(s.port, `bu-${i}`));
  t.same(statuses.filter((x) => x === 503).length, 2, 'the requests that met the dead endpoint failed');
  const e = await s.admin('/explain?upstream=api&path=/v1/x');
  t.match(e.route, { route: 'default', retry: { max_attempts: 3, budget: { remaining: 0 }, would_retry_a_failure: false, why_not: /retry budget exhausted/ } });
  t.match(e.route.timeouts, { connect_ms: Number, request_ms: Number });
  t.equal(await metric(s, /^retry_budget_exhausted_total/), 'retry_budget_exhausted_total{direction="outbound",target="api"} 2');
  t.equal(await metric(s, /^retry_total/), 'retry_total{direction="outbound",target="api"} 0');
  t.equal(await metric(s, /^response_total.*status_code="503"/), 'response_total{direction="outbound",target="api",classification="failure",status_code="503",reason="upstream_connect_failed"} 2');
  const failed = (await Promise.all([0, 1, 2, 3].map((i) => s.admin(`/explain?request_id=bu-${i}`)))).filter((r) => r.final.outcome === 'failed');
  t.equal(failed.length, 2);
  for (const f of failed) {
    t.match(f, { attempts_made: 1, attempts: [{ endpoint: s.dead, reason: 'upstream_connect_failed' }], final: { reason: 'upstream_connect_failed', status: 503 } });
  }
});

t.test('an authorization denial: explain gives the verdict and the deciding rule', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  const agent = await startAgent(configFromObject({
    service: { name: 'api', address: `127.0.0.1:${app.port}` },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
    admin: { bind: '127.0.0.1:0' },
    authz: { default: 'allow', rules: [{ name: 'web-not-admin', source: 'web', action: 'deny', http: { path_prefix: '/admin' } }] },
    drain_timeout: '1s',
  }, 'test'), { log: quietLog() });
  t.teardown(() => agent.stop());
  const admin = async (path: string): Promise<any> => (await request(`http://127.0.0.1:${agent.adminPort}${path}`)).body.json();
  const web = encodeURIComponent('spiffe://aim.local/ns/default/dc/dc1/svc/web');
  const denied = await admin(`/explain?upstream=api&method=POST&path=/admin/users&peer=${web}`);
  t.match(denied.authorization, { allowed: false, rule: 'rules[0] web-not-admin', decided_by: 'authz' });
  t.match(denied.stopped_by, { filter: 'authz', reason: 'authz_denied', status: 403 });
  t.equal(denied.verdict, 'refused by the authz filter: authz_denied (403)');
  t.match(denied.filters.find((f: { name: string }) => f.name === 'authz'), { verdict: 'reply', allowed: false });
  const allowed = await admin(`/explain?upstream=api&method=GET&path=/public&peer=${web}`);
  t.match(allowed.authorization, { allowed: true, rule: 'default' });
  t.equal(allowed.verdict, `sent to 127.0.0.1:${app.port}`);
  t.notOk(allowed.stopped_by);
  const other = await admin(`/explain?upstream=api&path=/admin/users&peer=${encodeURIComponent('spiffe://aim.local/ns/default/dc/dc1/svc/billing')}`);
  t.match(other.authorization, { allowed: true, rule: 'default' }, 'the rule names web only');
  t.equal((await request(`http://127.0.0.1:${agent.adminPort}/explain?upstream=api&peer=not-a-spiffe-id`)).statusCode, 400);
});
