/**
 * The Consul-API test server's blocking-query semantics against SPEC §3:
 * index 0 answers at once, a higher index blocks until a change, the wait is
 * capped, X-Consul-Index is never 0, and after an index reset a request with a
 * higher index blocks until the wait ends and then returns the lower index.
 * Also drives the npm `consul` client's watch (CLIENT.md) through a reset.
 */
import t from 'tap';
import Consul from 'consul';
import { startConsulTestServer } from '../../support/consul/index.ts';
import { call } from './consul-http.ts';

const register = (url: string, id: string, port: number) =>
  call('PUT', `${url}/v1/agent/service/register`, { Name: 'web', ID: id, Port: port, Check: { TTL: '30s', Status: 'passing' } });

t.test('index 0 or absent answers at once, never with index 0', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const a = await call('GET', `${consul.url}/v1/health/service/nothing-here`);
  t.equal(a.status, 200);
  t.same(a.json(), []);
  t.ok(a.index! >= 1, 'unknown service still has an index >= 1');
  consul.faults.resetIndex(0);
  const b = await call('GET', `${consul.url}/v1/health/service/nothing-here?index=0&wait=5s`);
  t.equal(b.index, 1, 'index 0 in the store is sent as 1');
  t.equal(b.headers['x-consul-knownleader'], 'true');
  t.equal(b.headers['x-consul-lastcontact'], '0');
  t.equal(b.headers['x-consul-effective-consistency'], 'leader');
  const stale = await call('GET', `${consul.url}/v1/health/service/nothing-here?stale`);
  t.equal(stale.headers['x-consul-effective-consistency'], 'stale');
});

t.test('blocks until the data changes, then answers with a higher index', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await register(consul.url, 'web-1', 8001);
  const first = await call('GET', `${consul.url}/v1/health/service/web`);
  const started = Date.now();
  const pending = call('GET', `${consul.url}/v1/health/service/web?index=${first.index}&wait=20s`);
  setTimeout(() => void register(consul.url, 'web-2', 8002), 300);
  const second = await pending;
  t.ok(Date.now() - started >= 250, 'it blocked until the write');
  t.ok(second.index! > first.index!, 'index rose');
  t.equal((second.json() as unknown[]).length, 2);
});

t.test('a write to another service does not wake the query; the wait ends it with the same index', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await register(consul.url, 'web-1', 8001);
  const first = await call('GET', `${consul.url}/v1/health/service/web`);
  setTimeout(() => void call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'db', Port: 5432 }), 100);
  const started = Date.now();
  const second = await call('GET', `${consul.url}/v1/health/service/web?index=${first.index}&wait=600ms`);
  t.ok(Date.now() - started >= 550, 'held for the wait');
  t.equal(second.index, first.index, 'same index: returning is no proof of change');
});

t.test('an index already behind the data answers at once', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await register(consul.url, 'web-1', 8001);
  const cur = await call('GET', `${consul.url}/v1/health/service/web`);
  const started = Date.now();
  const r = await call('GET', `${consul.url}/v1/health/service/web?index=${cur.index! - 1}&wait=10s`);
  t.ok(Date.now() - started < 1000);
  t.equal(r.index, cur.index);
});

t.test('wait is capped (maxWaitMs stands in for 10m) and jitter adds at most wait/16', async (t) => {
  const consul = await startConsulTestServer({ jitter: true, maxWaitMs: 400 });
  t.teardown(() => consul.close());
  const cur = await call('GET', `${consul.url}/v1/catalog/services`);
  const started = Date.now();
  await call('GET', `${consul.url}/v1/catalog/services?index=${cur.index}&wait=10m`);
  const took = Date.now() - started;
  t.ok(took >= 390 && took < 400 + 400 / 16 + 300, `capped: took ${took}ms`);
});

t.test('400 texts for bad wait and index', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  for (const [q, msg] of [['wait=10', 'Invalid wait time'], ['wait=abc', 'Invalid wait time'], ['index=-1', 'Invalid index'], ['index=1.5', 'Invalid index']] as const) {
    const r = await call('GET', `${consul.url}/v1/health/service/web?${q}`);
    t.equal(r.status, 400, q);
    t.equal(r.text, msg, q);
    t.match(String(r.headers['content-type']), /^text\/plain/);
  }
  const dc = await call('GET', `${consul.url}/v1/health/service/web?dc=nope`);
  t.equal(dc.status, 500);
  t.equal(dc.text, 'No path to datacenter');
});

t.test('index going backwards: a higher requested index blocks to the wait, then returns the lower index', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await register(consul.url, 'web-1', 8001);
  const before = await call('GET', `${consul.url}/v1/health/service/web`);
  consul.faults.resetIndex(2);
  const started = Date.now();
  // A write after the reset takes index 3, still below what the client holds: it must not wake the query.
  setTimeout(() => void call('PUT', `${consul.url}/v1/agent/check/fail/service:web-1`), 100);
  const after = await call('GET', `${consul.url}/v1/health/service/web?index=${before.index}&wait=700ms`);
  t.ok(Date.now() - started >= 650, 'blocked until the wait ended');
  t.ok(after.index! < before.index!, `index went backwards (${before.index} → ${after.index})`);
  t.equal(((after.json() as Array<{ Checks: Array<{ Status: string }> }>)[0]!.Checks.find((c) => c.Status === 'critical')) !== undefined, true, 'data is current');
});

t.test('the npm consul watch resets to 0 when the index goes backwards, and keeps watching', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await register(consul.url, 'web-1', 8001);
  const client = new Consul({ host: '127.0.0.1', port: consul.port });
  t.teardown(() => client.destroy());
  const watch = client.watch({ method: client.health.service, options: { service: 'web', wait: '1s' } as never, backoffFactor: 50 });
  t.teardown(() => watch.end());
  const changes: unknown[][] = [];
  const errors: Error[] = [];
  watch.on('change', (data: unknown[]) => changes.push(data));
  watch.on('error', (e: Error) => errors.push(e));
  await new Promise((r) => setTimeout(r, 300));
  t.equal(changes.length, 1, 'initial change');
  consul.faults.resetIndex(1);
  await new Promise((r) => setTimeout(r, 1800));
  t.ok(changes.length >= 2, 'a change after the reset (index went backwards → reset to 0)');
  t.same(errors, [], 'never "Consul returned zero index value"');
  await register(consul.url, 'web-2', 8002);
  await new Promise((r) => setTimeout(r, 300));
  t.equal((changes.at(-1) as unknown[]).length, 2, 'still watching after the reset');
});
