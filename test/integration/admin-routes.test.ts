/**
 * Issue 7, tests 2 and 3: every admin route answers as its help says (the
 * test fails when a route is added to the table without an expectation
 * here); a mutating route answers GET with 405 and changes nothing; and it
 * refuses a caller that is not loopback unless the token is presented.
 *
 * The non-loopback caller: all of 127/8 is loopback, so here the admin
 * server's loopback predicate is injected (`isLoopback: () => false`) and
 * real requests go over a real socket; admin-remote.test.ts does the same
 * from a network namespace with a real non-loopback address.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import type { Server } from 'node:http';
import pino from 'pino';
import { request } from 'undici';
import { adminRoutes } from '../../src/admin/routes.ts';
import { createAdminServer } from '../../src/admin/server.ts';
import { startMeshPair } from '../support/mesh.ts';
import { startHttpUpstream } from '../support/upstreams.ts';

const quietLog = (): pino.Logger => pino({ level: 'info' }, new Writable({ write(_c, _e, cb) { cb(); } }));

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: () => any }

async function call(base: string, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Answer> {
  const r = await request(`${base}${path}`, { method: method as 'GET', headers });
  const text = await r.body.text();
  return { status: r.statusCode, headers: r.headers, text, json: () => JSON.parse(text) };
}

t.test('every route answers as its help says', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  let quitCalled = 0;
  const mesh = await startMeshPair({ appPort: app.port, log: quietLog() });
  t.teardown(() => mesh.stop());
  const agent = mesh.outbound.agent;
  const base = `http://127.0.0.1:${mesh.outbound.adminPort}`;
  for (let i = 0; i < 3; i++) await (await request(`http://127.0.0.1:${mesh.port}/v1/x`, { headers: { 'x-request-id': `routes-${i}` } })).body.dump();

  const checks: Record<string, (t: Test) => Promise<void>> = {
    '/': async (t) => {
      const a = await call(base, '/');
      t.equal(a.status, 200);
      for (const r of adminRoutes) t.match(a.text, `${r.method.padEnd(4)} ${r.path}`);
    },
    '/ready': async (t) => { const a = await call(base, '/ready'); t.equal(a.status, 200); t.same(a.json(), { ready: true }); },
    '/live': async (t) => { const a = await call(base, '/live'); t.equal(a.status, 200); t.same(a.json(), { live: true }); },
    '/metrics': async (t) => {
      const a = await call(base, '/metrics');
      t.equal(a.status, 200);
      t.match(String(a.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      t.match(a.text, /^request_total\{direction="outbound",target="api"\} 3$/m);
      t.match(a.text, /^# TYPE response_latency_ms histogram$/m);
    },
    '/stats': async (t) => {
      const text = await call(base, '/stats?filter=request_total');
      t.equal(text.status, 200);
      t.match(text.text, /^request_total\{direction="outbound",target="api"\}: 3$/m);
      t.notMatch(text.text, /response_total/, 'filter keeps matching names only');
      const json = (await call(base, '/stats?format=json&filter=response_total')).json();
      t.same(json.stats.filter((s: { labels: { status_code?: string } }) => s.labels.status_code === '200').map((s: { name: string; value: number }) => [s.name, s.value]), [['response_total', 3]]);
      t.equal((await call(base, '/stats?format=yaml')).status, 400);
      t.match((await call(base, '/stats?format=prometheus')).text, /^# HELP request_total/m);
    },
    '/clusters': async (t) => {
      const list = (await call(base, '/clusters')).json() as Array<{ name: string; direction: string; endpoints: Array<Record<string, unknown>> }>;
      const api = list.find((c) => c.name === 'api')!;
      t.equal(api.direction, 'outbound');
      t.equal(api.endpoints.length, 1);
      t.match(api.endpoints[0], { address: `127.0.0.1:${mesh.inboundPort}`, state: 'available', health: 'passing', ejected: false, breaker_open: false,
        active_requests: 0, requests_total: 3, errors_total: 0, weight: 1, ewma_ms: Number, score: Number });
      t.ok(list.some((c) => c.direction === 'inbound'), 'the inbound cluster (local app) is listed');
    },
    '/listeners': async (t) => {
      const list = (await call(base, '/listeners')).json() as Array<{ name: string; address: string; accepted_total: number }>;
      t.match(list.find((l) => l.name === 'outbound:api'), { address: `127.0.0.1:${mesh.port}`, protocol: 'http', accepted_total: Number });
      t.ok(list.find((l) => l.name === 'inbound'));
    },
    '/config_dump': async (t) => {
      const a = (await call(base, '/config_dump')).json();
      t.equal(a.config.service.name, 'web');
      t.equal(a.config.upstreams[0].name, 'api');
      t.ok(a.config.limits.max_header_bytes > 0, 'defaults are applied');
    },
    '/certs': async (t) => {
      const none = (await call(base, '/certs')).json();
      t.equal(none.identity, null);
      t.match(none.detail, /mtls is off/);
      agent.certsInfo = () => ({ spiffeId: 'spiffe://aim.local/ns/default/dc/dc1/svc/web', keyPem: '-----BEGIN PRIVATE KEY-----\nx\n' });
      const some = (await call(base, '/certs')).json();
      t.same(some.identity, { spiffeId: 'spiffe://aim.local/ns/default/dc/dc1/svc/web', keyPem: '[redacted]' });
      agent.certsInfo = undefined;
    },
    '/explain': async (t) => {
      const a = (await call(base, '/explain?upstream=api&method=GET&path=/v1/x&header=x-user:42')).json();
      t.equal(a.verdict, `sent to 127.0.0.1:${mesh.inboundPort}`);
      t.equal(a.choice.endpoint, `127.0.0.1:${mesh.inboundPort}`);
      t.same(a.request.headers, [['x-user', '42']]);
      t.ok(a.route.timeouts, 'policies are shown');
      t.equal(a.endpoints.length, 1);
      const rec = (await call(base, '/explain?request_id=routes-1')).json();
      t.match(rec, { request_id: 'routes-1', path: '/v1/x', attempts_made: 1, final: { outcome: 'succeeded', status: 200 } });
      t.equal((await call(base, '/explain?request_id=nope')).status, 404);
      t.equal((await call(base, '/explain?upstream=nope')).status, 404);
      t.equal((await call(base, '/explain')).status, 400);
      t.equal((await call(base, '/explain?upstream=api&path=relative')).status, 400);
    },
    '/server_info': async (t) => {
      const a = (await call(base, '/server_info')).json();
      t.match(a, { version: /^\d+\.\d+\.\d+/, service: 'web', node: String, state: 'live', uptime_s: Number, healthcheck_failed: false, log_level: 'info' });
    },
    '/logging': async (t) => {
      const a = await call(base, '/logging?level=debug', 'POST');
      t.equal(a.status, 200);
      t.same(a.json(), { level: 'debug', previous: 'info' });
      t.equal(agent.log.level, 'debug');
      t.equal((await call(base, '/logging?level=loud', 'POST')).status, 400);
      t.equal(agent.log.level, 'debug', 'a bad level changes nothing');
      await call(base, '/logging?level=info', 'POST');
    },
    '/drain': async (t) => {
      // On the inbound agent, which this test drains last (the outbound agent keeps answering).
      const ib = `http://127.0.0.1:${mesh.inbound.adminPort}`;
      const a = await call(ib, '/drain', 'POST');
      t.equal(a.status, 202);
      t.ok(mesh.inbound.agent.draining);
      t.match((await call(ib, '/ready')).json(), { ready: false, missing: ['draining'] });
    },
    '/quitquitquit': async (t) => {
      // A separate admin server over the same agent, with a quit hook we can observe.
      const s = createAdminServer({ agent, quit: () => { quitCalled++; } }, undefined, quietLog());
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      t.teardown(() => s.close());
      const a = await call(`http://127.0.0.1:${(s.address() as { port: number }).port}`, '/quitquitquit', 'POST');
      t.equal(a.status, 202);
      t.equal(quitCalled, 1);
    },
    '/healthcheck/fail': async (t) => {
      t.equal((await call(base, '/healthcheck/fail', 'POST')).status, 200);
      const r = await call(base, '/ready');
      t.equal(r.status, 503);
      t.match(r.json().missing, [/healthcheck failed/]);
    },
    '/healthcheck/ok': async (t) => {
      t.equal((await call(base, '/healthcheck/ok', 'POST')).status, 200);
      t.equal((await call(base, '/ready')).status, 200);
    },
    '/reset_counters': async (t) => {
      t.match((await call(base, '/metrics')).text, /^request_total\{direction="outbound",target="api"\} 3$/m);
      t.equal((await call(base, '/reset_counters', 'POST')).status, 200);
      t.match((await call(base, '/metrics')).text, /^request_total\{direction="outbound",target="api"\} 0$/m);
      t.match((await call(base, '/metrics')).text, /^tcp_open_connections\{direction="outbound",target="api"\} [0-9]+$/m, 'gauges stay');
    },
  };
  t.same(Object.keys(checks).sort(), adminRoutes.map((r) => r.path).sort(), 'every route of the table has a check here');
  // Read-only routes first, then the mutating ones in table order (drain and quit do not touch this agent's traffic).
  for (const r of adminRoutes) await t.test(`${r.method} ${r.path}`, checks[r.path]!);
});

t.test('mutating routes: GET answers 405 and changes nothing', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  const mesh = await startMeshPair({ appPort: app.port, log: quietLog() });
  t.teardown(() => mesh.stop());
  const agent = mesh.outbound.agent;
  const base = `http://127.0.0.1:${mesh.outbound.adminPort}`;
  await (await request(`http://127.0.0.1:${mesh.port}/x`)).body.dump();
  const metricsBefore = (await call(base, '/stats?filter=request_total')).text;
  for (const r of adminRoutes.filter((x) => x.mutates)) {
    for (const m of ['GET', 'HEAD', 'PUT']) {
      const a = await call(base, `${r.path}?level=debug`, m);
      t.equal(a.status, 405, `${m} ${r.path} → 405`);
      t.equal(a.headers['allow'], 'POST');
    }
  }
  t.equal((await call(base, '/ready', 'POST')).status, 405, 'and a read-only route refuses POST');
  t.equal(agent.log.level, 'info', 'log level unchanged');
  t.equal(agent.healthcheckFailed, false, 'healthcheck flag unchanged');
  t.equal(agent.draining, false, 'not draining');
  t.equal((await call(base, '/stats?filter=request_total')).text, metricsBefore, 'counters unchanged');
  t.equal((await call(base, '/no/such/route')).status, 404);
});

t.test('a non-loopback caller needs the token for mutating routes', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  const mesh = await startMeshPair({ appPort: app.port, log: quietLog() });
  t.teardown(() => mesh.stop());
  const agent = mesh.outbound.agent;
  const token = 'tok-0123456789';
  const servers: Server[] = [];
  const listen = async (tok: string | undefined): Promise<string> => {
    const s = createAdminServer({ agent, quit: () => {} }, tok, quietLog(), { isLoopback: () => false });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
  };
  t.teardown(() => { for (const s of servers) s.close(); });
  const base = await listen(token);
  t.equal((await call(base, '/healthcheck/fail', 'POST')).status, 403, 'no token: 403');
  t.equal((await call(base, '/healthcheck/fail', 'POST', { authorization: 'Bearer wrong-token-xx' })).status, 403, 'wrong token: 403');
  t.equal((await call(base, '/healthcheck/fail', 'POST', { authorization: `Bearer ${token}x` })).status, 403, 'longer token: 403');
  t.equal(agent.healthcheckFailed, false, 'refused calls changed nothing');
  t.equal((await call(base, '/healthcheck/fail', 'POST', { authorization: `Bearer ${token}` })).status, 200, 'token: allowed');
  t.equal(agent.healthcheckFailed, true);
  t.equal((await call(base, '/ready')).status, 503, 'read-only routes need no token');
  // The CLI presents the token with --token (run asynchronously: this process serves the admin API).
  const cli = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> => new Promise((resolve) => {
    const p = spawn(process.execPath, ['src/cli/index.ts', 'admin', ...args, '--admin', base.slice(7)]);
    let stdout = ''; let stderr = '';
    p.stdout.on('data', (b) => { stdout += b; });
    p.stderr.on('data', (b) => { stderr += b; });
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  t.equal((await cli(['post', '/healthcheck/ok'])).status, 1, 'CLI without the token: refused, exit 1');
  const ok = await cli(['post', '/healthcheck/ok', '--token', token]);
  t.equal(ok.status, 0, ok.stderr);
  t.match(JSON.parse(ok.stdout), { healthcheck: 'ok' });
  t.equal(agent.healthcheckFailed, false);
  const ready = await cli(['get', '/ready']);
  t.equal(ready.status, 0);
  t.same(JSON.parse(ready.stdout), { ready: true });
  // Without a configured token, no token unlocks anything.
  const open = await listen(undefined);
  t.equal((await call(open, '/healthcheck/fail', 'POST', { authorization: 'Bearer ' })).status, 403);
});
