import t from 'tap';
import {
  buildCaptureIndex, canonicalAddress, canonicalHost, captureServicesFromSets, resolveCaptured, type CaptureService,
} from '../../../src/transparent/capture.ts';

const services: CaptureService[] = [
  { name: 'api', instances: [{ address: '10.0.0.1', port: 21001 }, { address: '10.0.0.2', port: 21001 }], virtualIps: ['240.0.0.1'], datacenter: 'dc1' },
  { name: 'web', instances: [{ address: '10.0.0.3', port: 8080 }], hostnames: ['web.default.svc.cluster.local'] },
  // Two services on one host, told apart by port only.
  { name: 'db', instances: [{ address: '10.0.0.9', port: 5432 }] },
  { name: 'cache', instances: [{ address: '10.0.0.9', port: 6379 }] },
  { name: 'v6', instances: [{ address: 'FD00:0:0::10', port: 80 }] },
];
const index = buildCaptureIndex(services);

t.test('virtual IP, exact endpoint, any port of an instance address', async (t) => {
  t.same(resolveCaptured({ address: '240.0.0.1', port: 80 }, undefined, index), { kind: 'service', service: 'api', by: 'virtual_ip' });
  t.same(resolveCaptured({ address: '10.0.0.2', port: 21001 }, undefined, index), { kind: 'service', service: 'api', by: 'endpoint' });
  t.same(resolveCaptured({ address: '10.0.0.2', port: 8080 }, undefined, index), { kind: 'service', service: 'api', by: 'address' });
  t.same(resolveCaptured({ address: '::ffff:10.0.0.3', port: 1 }, undefined, index), { kind: 'service', service: 'web', by: 'address' });
  t.same(resolveCaptured({ address: 'fd00::10', port: 443 }, undefined, index), { kind: 'service', service: 'v6', by: 'address' });
});

t.test('a shared address is resolved by port, then by Host, else it is ambiguous', async (t) => {
  t.same(resolveCaptured({ address: '10.0.0.9', port: 5432 }, undefined, index), { kind: 'service', service: 'db', by: 'endpoint' });
  t.same(resolveCaptured({ address: '10.0.0.9', port: 6379 }, 'ignored', index), { kind: 'service', service: 'cache', by: 'endpoint' });
  t.same(resolveCaptured({ address: '10.0.0.9', port: 80 }, 'cache.service.consul', index), { kind: 'service', service: 'cache', by: 'host' });
  t.same(resolveCaptured({ address: '10.0.0.9', port: 80 }, undefined, index), { kind: 'passthrough', why: 'ambiguous_address' });
});

t.test('Host / :authority for unknown addresses', async (t) => {
  const at = { address: '192.0.2.50', port: 80 };
  for (const host of ['api', 'API.service.consul.', 'api.virtual.consul:8080', 'api.service.dc1.consul', 'api.connect.consul']) {
    t.same(resolveCaptured(at, host, index), { kind: 'service', service: 'api', by: 'host' }, host);
  }
  t.same(resolveCaptured(at, 'web.default.svc.cluster.local:80', index), { kind: 'service', service: 'web', by: 'host' });
  t.same(resolveCaptured(at, 'example.com', index), { kind: 'passthrough', why: 'not_mesh' });
  t.same(resolveCaptured(at, '192.0.2.50:80', index), { kind: 'passthrough', why: 'not_mesh' }, 'an IP literal Host is not a name');
  t.same(resolveCaptured(at, undefined, index), { kind: 'passthrough', why: 'not_mesh' });
});

t.test('block policy; decisions are shared objects (no allocation per connection)', async (t) => {
  const blocking = buildCaptureIndex(services, { policy: 'block' });
  t.same(resolveCaptured({ address: '192.0.2.1', port: 443 }, undefined, blocking), { kind: 'blocked', why: 'not_mesh' });
  t.same(resolveCaptured({ address: '10.0.0.9', port: 1 }, undefined, blocking), { kind: 'blocked', why: 'ambiguous_address' });
  t.equal(resolveCaptured({ address: '10.0.0.1', port: 1 }, undefined, index), resolveCaptured({ address: '10.0.0.2', port: 2 }, undefined, index));
  t.equal(resolveCaptured({ address: '192.0.2.1', port: 1 }, undefined, index), resolveCaptured({ address: '192.0.2.2', port: 2 }, undefined, index));
  t.throws(() => buildCaptureIndex(services, { policy: 'drop' as 'block' }), /passthrough or block/);
});

t.test('conflicting VIPs and host names are reported and never guessed', async (t) => {
  const idx = buildCaptureIndex([
    { name: 'a', instances: [], virtualIps: ['240.0.0.9'], hostnames: ['shared.example'] },
    { name: 'b', instances: [], virtualIps: ['240.0.0.9'], hostnames: ['shared.example'] },
  ]);
  t.equal(idx.conflicts.length, 2);
  t.match(idx.conflicts[0], /240\.0\.0\.9 is claimed by a and b/);
  t.same(resolveCaptured({ address: '240.0.0.9', port: 80 }, 'shared.example', idx), { kind: 'passthrough', why: 'not_mesh' });
  t.same(resolveCaptured({ address: '240.0.0.9', port: 80 }, 'a', idx), { kind: 'service', service: 'a', by: 'host' });
});

t.test('canonical forms', async (t) => {
  t.equal(canonicalAddress('::FFFF:10.1.2.3'), '10.1.2.3');
  t.equal(canonicalAddress('0:0:0:0:0:ffff:a01:203'), '10.1.2.3');
  t.equal(canonicalAddress('FD00:0000::0001'), 'fd00::1');
  t.equal(canonicalAddress('fe80::1%eth0'), 'fe80::1');
  t.equal(canonicalHost('Api.Service.Consul.:443'), 'api.service.consul');
  t.equal(canonicalHost('[fd00::1]:80'), undefined);
  t.equal(canonicalHost('10.0.0.1'), undefined);
  t.equal(canonicalHost(''), undefined);
});

t.test('from discovery endpoint sets', async (t) => {
  const svc = captureServicesFromSets(
    [{ service: 'api', source: 'static:x', endpoints: [{ address: '10.0.0.1', port: 1, weight: 1, tags: [], health: 'passing', datacenter: 'dc2' }] }],
    new Map([['api', { virtualIps: ['240.0.0.2'] }]]),
  );
  t.same(svc, [{ name: 'api', instances: [{ address: '10.0.0.1', port: 1 }], virtualIps: ['240.0.0.2'], datacenter: 'dc2' }]);
  const idx = buildCaptureIndex(svc);
  t.same(resolveCaptured({ address: '240.0.0.2', port: 1 }, undefined, idx), { kind: 'service', service: 'api', by: 'virtual_ip' });
  t.same(resolveCaptured({ address: '1.1.1.1', port: 1 }, 'api.service.dc2.consul', idx), { kind: 'service', service: 'api', by: 'host' });
});
