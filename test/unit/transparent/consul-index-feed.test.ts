/**
 * The capture index in Consul mode, fed by the catalog-wide watch against the
 * project's real Consul-API test server (no stubs of our Consul client):
 * services appear with their instance addresses and `consul-virtual` VIPs,
 * follow changes, and disappear; plain services without a sidecar are left to
 * the policy. Both ways of reading a service are covered: a blocking watch of
 * its own (catalog_watches > 0) and sweeps when the catalog moves (0).
 */
import t from 'tap';
import { startConsulTestServer, type ConsulTestServer } from '../../support/consul/index.ts';
import { createConsulDiscovery, consulSectionSchema } from '../../../src/discovery/consul/index.ts';
import { consulCatalogFeed } from '../../../src/transparent/consul-catalog-feed.ts';
import { feedCaptureIndex } from '../../../src/transparent/index-feed.ts';
import { resolveCaptured, type CaptureDecision } from '../../../src/transparent/capture.ts';
import { captureServicesFromCatalog } from '../../../src/transparent/catalog-services.ts';
import type { CatalogInstance } from '../../../src/discovery/consul/catalog-queries.ts';
import { silentLogger } from '../../../src/telemetry/log.ts';

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (cond()) return true; await new Promise((r) => setTimeout(r, 20)); }
  return cond();
}

/** A service on its own node (`addr`), with a connect-proxy sidecar unless `plain`. */
function addService(consul: ConsulTestServer, name: string, addr: string, o: { plain?: boolean; appAddress?: string } = {}): void {
  consul.catalog.register({ node: `node-${name}`, address: addr, service: { Service: name, Port: 8080, Address: o.appAddress ?? '' } });
  if (o.plain) return;
  consul.catalog.register({ node: `node-${name}`, address: addr, service: {
    Service: `${name}-sidecar-proxy`, ID: `${name}-sidecar-proxy`, Kind: 'connect-proxy', Port: 21000, Proxy: { DestinationServiceName: name, LocalServicePort: 8080 },
  } });
}

function removeService(consul: ConsulTestServer, name: string): void {
  consul.catalog.deregister(`node-${name}`, `${name}-sidecar-proxy`);
  consul.catalog.deregister(`node-${name}`, name);
}

const svc = (service: string, by: string): CaptureDecision => ({ kind: 'service', service, by } as CaptureDecision);
const notMesh: CaptureDecision = { kind: 'passthrough', why: 'not_mesh' };

for (const watches of [32, 1, 0]) {
  t.test(`catalog_watches: ${watches} — services appear, get a VIP, change and disappear; the index follows`, async (t) => {
    const consul = await startConsulTestServer({ jitter: false });
    const section = consulSectionSchema.parse({ address: `127.0.0.1:${consul.port}`, wait: '2s', discovery: { min_query_interval: '10ms', backoff_initial: '50ms', backoff_max: '200ms' } });
    const discovery = createConsulDiscovery({ consul: section }, silentLogger);
    const ac = new AbortController();
    t.teardown(async () => { ac.abort(); await discovery.close(); await consul.close(); });

    addService(consul, 'api', '10.0.0.2');
    addService(consul, 'legacy', '10.0.0.4', { plain: true });
    const catalog = consulCatalogFeed(discovery.client, section, { maxWatches: watches, signal: ac.signal, log: silentLogger, coalesceMs: 5 });
    const feed = feedCaptureIndex(discovery.resolver, [], 'passthrough', ac.signal, silentLogger, catalog);
    const at = (address: string, port = 80, host?: string) => resolveCaptured({ address, port }, host, feed.current());

    const apiVip = consul.catalog.virtualIp('api')!;
    t.equal(apiVip, '240.0.0.1', 'the test server gave api its VIP');
    t.ok(await until(() => at(apiVip).kind === 'service'), 'api shows up in the index');
    t.same(at(apiVip), svc('api', 'virtual_ip'), "by its consul-virtual VIP (any port)");
    t.same(at('10.0.0.2', 21000), svc('api', 'endpoint'), "by its sidecar's address and port");
    t.same(at('10.0.0.2', 8080), svc('api', 'endpoint'), "by the app instance's address (Service.Address empty: Node.Address)");
    t.same(at('10.0.0.2', 9999), svc('api', 'address'), 'by any port of its address');
    t.same(at('10.0.0.99', 80, 'api.virtual.consul'), svc('api', 'host'), 'by Host api.virtual.consul');
    t.same(at('10.0.0.4', 8080), notMesh, 'a plain service with no sidecar is not mapped (nothing to dial over mTLS)');
    t.ok(await until(() => catalog.status().synced), 'the watch is synced');
    t.equal(catalog.status().watched, Math.min(watches, 3), `${Math.min(watches, 3)} of the 3 names hold a blocking query of their own`);

    addService(consul, 'db', '10.0.0.3', { appAddress: '10.0.0.30' });
    const dbVip = consul.catalog.virtualIp('db')!;
    t.ok(await until(() => at(dbVip).kind === 'service'), 'a service registered later appears');
    t.same(at(dbVip), svc('db', 'virtual_ip'));
    t.same(at('10.0.0.30', 5432), svc('db', 'address'), 'its app instance address (Service.Address) too');
    t.same(at('10.0.0.3', 21000), svc('db', 'endpoint'), 'and its sidecar');

    // A new instance of an existing service (only its per-service answer changes).
    consul.catalog.register({ node: 'node-api-2', address: '10.0.0.12', service: {
      Service: 'api-sidecar-proxy', ID: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Proxy: { DestinationServiceName: 'api' } } });
    t.ok(await until(() => at('10.0.0.12', 21000).kind === 'service'), 'a second api sidecar is mapped');
    t.same(at('10.0.0.12', 21000), svc('api', 'endpoint'));

    removeService(consul, 'db');
    t.ok(await until(() => at(dbVip).kind !== 'service'), 'a removed service leaves the index');
    t.same(at('10.0.0.3', 21000), notMesh, 'its addresses too');
    t.same(at(apiVip), svc('api', 'virtual_ip'), 'the others stay');

    // Static stability: Consul down, nothing is forgotten; back up, changes flow again.
    await consul.faults.down();
    await new Promise((r) => setTimeout(r, 200));
    t.same(at(apiVip), svc('api', 'virtual_ip'), 'Consul down: the last known catalog is kept');
    t.ok(catalog.status().lastError !== undefined, 'and the error is reported');
    await consul.faults.up();
    addService(consul, 'late', '10.0.0.5');
    t.ok(await until(() => at(consul.catalog.virtualIp('late')!).kind === 'service', 8000), 'Consul back: a new service is picked up');
  });
}

t.test('from catalog instances to capture services (pure)', async (t) => {
  const i = (name: string, o: Partial<CatalogInstance>): CatalogInstance => ({ name, kind: '', service: name, connect: false, address: '10.1.0.1', port: 80, virtualIp: undefined, datacenter: 'dc1', ...o });
  const view = new Map<string, CatalogInstance[]>([
    ['web', [i('web', { address: '127.0.0.1' }), i('web', { address: '10.1.0.2' })]],
    ['web-sidecar-proxy', [i('web-sidecar-proxy', { kind: 'connect-proxy', service: 'web', connect: true, port: 21000, virtualIp: '240.0.0.7' })]],
    ['native', [i('native', { connect: true, virtualIp: '240.0.0.8', address: '10.1.0.3' })]],
    ['plain', [i('plain', { address: '10.1.0.4' })]],
    ['mgw', [i('mgw', { kind: 'mesh-gateway', address: '10.1.0.5' })]],
  ]);
  const mesh = captureServicesFromCatalog(view, { meshOnly: true });
  t.same(mesh.map((s) => s.name).sort(), ['native', 'web'], 'only Connect-capable services; no gateways');
  const web = mesh.find((s) => s.name === 'web')!;
  t.same(web.virtualIps, ['240.0.0.7']);
  t.same(web.instances, [{ address: '10.1.0.2', port: 80 }, { address: '10.1.0.1', port: 21000 }], "the app's and the sidecar's addresses, loopback skipped");
  t.equal(web.datacenter, 'dc1');
  t.same(captureServicesFromCatalog(view, { meshOnly: false }).map((s) => s.name).sort(), ['native', 'plain', 'web'], 'health_endpoint: service maps plain services too');
});
