/**
 * Fault injection of the Consul-API test server: down (connection refused,
 * in-flight blocking queries dropped) and up again on the same port, slow,
 * 500 with a plain-text body, malformed JSON, kill; and the request log that
 * tests use to measure query rates.
 */
import t from 'tap';
import { startConsulTestServer } from '../../support/consul/index.ts';
import { call } from './consul-http.ts';

t.test('down refuses connections and drops blocked queries; up serves again on the same port', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const first = await call('GET', `${consul.url}/v1/catalog/services`);
  const blocked = call('GET', `${consul.url}/v1/catalog/services?index=${first.index}&wait=30s`).then(() => 'answered', (e: Error) => e.message);
  await new Promise((r) => setTimeout(r, 100));
  await consul.faults.down();
  t.not(await blocked, 'answered', 'the blocked query was cut');
  const refused = await call('GET', `${consul.url}/v1/catalog/services`).then(() => undefined, (e: NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }) => e.code ?? e.cause?.code);
  t.equal(refused, 'ECONNREFUSED');
  await consul.faults.up();
  t.equal((await call('GET', `${consul.url}/v1/catalog/services`)).status, 200);
});

t.test('slow, 500 and malformed, limited by path and count', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  consul.faults.slow(300, { path: '/v1/catalog/', count: 1 });
  let started = Date.now();
  await call('GET', `${consul.url}/v1/catalog/services`);
  t.ok(Date.now() - started >= 280, 'slow');
  started = Date.now();
  await call('GET', `${consul.url}/v1/catalog/services`);
  t.ok(Date.now() - started < 250, 'count exhausted');
  consul.faults.error500(undefined, { path: '/v1/health/' });
  const e = await call('GET', `${consul.url}/v1/health/service/web`);
  t.equal(e.status, 500);
  t.equal(e.text, 'No cluster leader');
  t.equal(e.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal((await call('GET', `${consul.url}/v1/catalog/services`)).status, 200, 'other paths unaffected');
  consul.faults.clear();
  for (const kind of ['truncated', 'not-json', 'wrong-shape'] as const) {
    consul.faults.malformed(kind, { count: 1 });
    const m = await call('GET', `${consul.url}/v1/health/service/web`);
    t.equal(m.status, 200, kind);
    t.equal(m.headers['content-type'], 'application/json');
    t.ok(m.index! >= 1, 'with a plausible X-Consul-Index');
    if (kind === 'wrong-shape') t.notOk(Array.isArray(m.json()));
    else t.throws(() => m.json(), kind);
  }
  t.equal((await call('GET', `${consul.url}/v1/health/service/web`)).status, 200);
});

t.test('kill: the agent is gone and its node fails serfHealth', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'web', Port: 1, Check: { TTL: '30s', Status: 'passing' } });
  await consul.kill();
  await t.rejects(call('GET', `${consul.url}/v1/agent/services`));
  t.equal(consul.catalog.instances('web')[0]!.status, 'critical');
});

t.test('the request log counts queries', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const since = Date.now();
  await call('GET', `${consul.url}/v1/health/service/a`);
  await call('GET', `${consul.url}/v1/health/service/b`);
  await call('GET', `${consul.url}/v1/catalog/services`);
  t.equal(consul.countRequests({ path: '/v1/health/', since }), 2);
  t.equal(consul.countRequests({ path: /^\/v1\/catalog\// }), 1);
  t.equal(consul.requests.at(-1)!.status, 200);
});
