/**
 * Pacing of Consul discovery against the Consul-API test server: an index
 * reset, a server that never blocks, and a flapping instance cause no tight
 * loop (at most about one query per second while nothing changes) and no
 * endpoint churn; an empty answer right after a reset is held until confirmed.
 */
import t, { type Test } from 'tap';
import { startConsulTestServer, type ConsulTestServer } from '../support/consul/index.ts';
import { addRemoteProxy, ports, record, setRemoteStatus, sleep } from '../support/consul/testing.ts';
import { consulSectionSchema, type ConsulSectionInput } from '../../src/discovery/consul/options.ts';
import { createConsulDiscovery } from '../../src/discovery/consul/index.ts';

async function setup(t: Test, cfg: ConsulSectionInput = {}, serverOpts: Parameters<typeof startConsulTestServer>[0] = {}) {
  const consul = await startConsulTestServer({ jitter: false, ...serverOpts });
  t.teardown(() => consul.close());
  const config = consulSectionSchema.parse({
    address: consul.url, wait: '2s', discovery: { min_query_interval: '100ms', flap_holddown: '0s', backoff_initial: '100ms', backoff_max: '500ms' }, ...cfg,
  });
  const d = createConsulDiscovery({ consul: config, trustDomain: consul.ca.trustDomain });
  t.teardown(() => d.close());
  return { consul, resolver: d.resolver };
}

function seed(consul: ConsulTestServer, n: number, service = 'db'): string[] {
  return Array.from({ length: n }, (_, i) => addRemoteProxy(consul, { service, node: `n${i + 1}`, port: 21001 + i }));
}

t.test('index reset: no tight loop (≤ 1 query/s idle), no churn, no empty set', async (t) => {
  const { consul, resolver } = await setup(t, { wait: '1s' });
  seed(consul, 2);
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  await rec.next((u) => u.endpoints.length === 2);
  await sleep(300);
  const yielded = rec.updates.length;
  const since = Date.now();
  consul.faults.resetIndex(1);
  await sleep(3000);
  const queries = consul.countRequests({ path: '/v1/health/connect/db', since });
  const secs = (Date.now() - since) / 1000;
  t.ok(queries / secs <= 1.5, `${queries} queries in ${secs.toFixed(1)}s (wait=1s plus the reset's one immediate re-query)`);
  t.equal(rec.updates.length, yielded, 'same endpoints: nothing re-yielded');
  // The watch still follows changes after the reset.
  addRemoteProxy(consul, { service: 'db', node: 'n9', port: 21009 });
  t.same(ports(await rec.next((u) => u.endpoints.length === 3, 3000)), [21001, 21002, 21009]);
});

t.test('an empty answer right after an index reset does not replace the set until confirmed', async (t) => {
  const { consul, resolver } = await setup(t, { wait: '1s' });
  seed(consul, 2);
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  await rec.next((u) => u.endpoints.length === 2);
  // Restored servers: the index drops AND the data is gone; writes stay below the index the client holds.
  consul.faults.resetIndex(1);
  consul.catalog.deregister('n1');
  consul.catalog.deregister('n2');
  await sleep(1600);
  t.notOk(rec.updates.some((u) => u.endpoints.length === 0), 'not at once');
  t.match(resolver.status('db').lastError, /index went backwards/);
  const empty = await rec.next((u) => u.endpoints.length === 0, 4000);
  t.same(empty.endpoints, [], 'confirmed by a later blocking answer, then yielded');
});

t.test('a server that never blocks (index stuck) is polled at most about once per second', async (t) => {
  const { consul, resolver } = await setup(t, { wait: '2s' });
  seed(consul, 1);
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  await rec.next((u) => u.endpoints.length === 1);
  // Every answer: same data, an index lower than the one sent → the client resets to 0 each time.
  const since = Date.now();
  const timer = setInterval(() => consul.faults.resetIndex(1), 50);
  t.teardown(() => clearInterval(timer));
  await sleep(3000);
  clearInterval(timer);
  const q = consul.countRequests({ path: '/v1/health/connect/db', since });
  t.ok(q <= 5, `${q} queries in 3 s`);
});

t.test('a flapping instance: bounded query rate, damped churn, idle ≤ 1 query/s afterwards', async (t) => {
  const { consul, resolver } = await setup(t, { wait: '1s', discovery: { min_query_interval: '500ms', flap_holddown: '1500ms', backoff_initial: '100ms', backoff_max: '500ms' } });
  seed(consul, 2);
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  await rec.next((u) => u.endpoints.length === 2);
  const start = rec.updates.length;
  const since = Date.now();
  let up = false;
  const flap = setInterval(() => { setRemoteStatus(consul, 'n2', 'db-n2-sidecar-proxy:agent', 'db-n2-sidecar-proxy', up ? 'passing' : 'critical'); up = !up; }, 120);
  t.teardown(() => clearInterval(flap));
  await sleep(3000);
  clearInterval(flap);
  setRemoteStatus(consul, 'n2', 'db-n2-sidecar-proxy:agent', 'db-n2-sidecar-proxy', 'passing');
  const flapQueries = consul.countRequests({ path: '/v1/health/connect/db', since });
  t.ok(flapQueries <= 3 / 0.5 + 2, `${flapQueries} queries during 3 s of flapping (min_query_interval 500ms)`);
  const back = await rec.next((u) => u.endpoints.length === 2, 4000);
  t.same(ports(back), [21001, 21002], 'readmitted after staying healthy for the holddown');
  const churn = rec.updates.length - start;
  t.ok(churn <= 3, `${churn} updates for ~25 flaps (removed once, readmitted once)`);
  t.ok(rec.updates.slice(start).every((u) => u.endpoints.some((e) => e.port === 21001)), 'the stable instance never left');
  const idleSince = Date.now();
  await sleep(3000);
  const idle = consul.countRequests({ path: '/v1/health/connect/db', since: idleSince });
  t.ok(idle <= 4, `${idle} queries in 3 s idle (wait=1s)`);
});

