/**
 * planInjection and its parts: annotations, decisions, service name and port,
 * drain deadline, identity sources, transparent mode, and idempotence.
 */
import t from 'tap';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { parsePodOptions } from '../../../src/k8s/annotations.ts';
import { injectorConfig } from '../../../src/k8s/config.ts';
import { planInjection } from '../../../src/k8s/inject.ts';
import { drainSecondsFor } from '../../../src/k8s/lifecycle.ts';
import { probePorts } from '../../../src/k8s/redirect.ts';

const version = '0.1.0';
const cfg = injectorConfig();

function pod(annotations: Record<string, string> = {}, spec: Record<string, unknown> = {}, labels: Record<string, string> = { app: 'web' }): any {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'shop', labels, annotations },
    spec: { containers: [{ name: 'web', image: 'web:1', ports: [{ name: 'http', containerPort: 8080 }] }], ...spec },
  };
}

function apply(p: unknown, c = cfg, namespaceEnabled = true): { out: any; result: ReturnType<typeof planInjection> } {
  const result = planInjection(p, c, { namespaceEnabled, version });
  const out = jsonpatch.applyPatch(structuredClone(p), result.patch as jsonpatch.Operation[], true, false).newDocument;
  return { out, result };
}

const proxyOf = (p: any): IContainer => p.spec.initContainers.find((c: IContainer) => c.name === 'aim-mesh-proxy');
const arg = (c: IContainer, flag: string): string[] => (c.args ?? []).flatMap((a, i, all) => (a === flag ? [all[i + 1]!] : []));

t.test('annotation parsing', async (t) => {
  const errors: string[] = [];
  const o = parsePodOptions({
    'aim-mesh.io/upstreams': ' api:9001 , billing.v2:9002,',
    'aim-mesh.io/opaque-ports': '3306,5432',
    'aim-mesh.io/transparent': 'TRUE',
    'aim-mesh.io/exclude-outbound-cidrs': '10.0.0.0/8,fd00::/8',
    'aim-mesh.io/exclude-uids': '1337',
  }, errors);
  t.same(errors, []);
  t.same(o.upstreams, [{ name: 'api', port: 9001 }, { name: 'billing.v2', port: 9002 }]);
  t.same(o.opaquePorts, [3306, 5432]);
  t.equal(o.transparent, true);
  t.same(o.excludeOutboundCidrs, ['10.0.0.0/8', 'fd00::/8']);
  t.same(o.excludeUids, [1337]);

  const bad: string[] = [];
  parsePodOptions({
    'aim-mesh.io/upstreams': 'API:1,api:0,api,api:1,b:1',
    'aim-mesh.io/transparent': 'maybe',
    'aim-mesh.io/exclude-outbound-cidrs': '10.0.0.0/33,300.1.1.1/8',
  }, bad);
  const expected = [/'API:1'/, /'api:0'/, /'api' is not/, /'10\.0\.0\.0\/33'/, /'300\.1\.1\.1\/8'/, /port 1 is used by two/, /'maybe' is not true or false/];
  for (const re of expected) t.ok(bad.some((e) => re.test(e)), `reports ${re}`);
  t.equal(bad.length, expected.length);
});

t.test('drain deadline is derived from terminationGracePeriodSeconds alone', async (t) => {
  const table: [number | undefined, number][] = [[undefined, 27], [30, 27], [60, 55], [120, 115], [10, 9], [5, 4], [1, 0], [0, 0], [-3, 27]];
  for (const [grace, drain] of table) t.equal(drainSecondsFor(grace), drain, `grace ${grace}`);
  fc.assert(fc.property(fc.integer({ min: 0, max: 100_000 }), (g) => {
    const d = drainSecondsFor(g);
    return d >= 0 && d < Math.max(g, 1) && g - d <= 5;
  }));
});

t.test('decisions: namespace, annotation, already injected, host network', async (t) => {
  t.equal(planInjection(pod(), cfg, { namespaceEnabled: true, version }).outcome, 'injected');
  t.equal(planInjection(pod(), cfg, { namespaceEnabled: false, version }).outcome, 'skipped');
  t.equal(planInjection(pod({ 'aim-mesh.io/inject': 'enabled' }), cfg, { namespaceEnabled: false, version }).outcome, 'injected');
  t.equal(planInjection(pod({ 'aim-mesh.io/inject': 'false' }), cfg, { namespaceEnabled: true, version }).reason, 'opted out by annotation');
  const odd = planInjection(pod({ 'aim-mesh.io/inject': 'yes please' }), cfg, { namespaceEnabled: true, version });
  t.equal(odd.outcome, 'injected', 'an unreadable inject annotation falls back to the namespace');
  t.match(odd.warnings[0], /is not enabled or disabled/);
  const host = planInjection(pod({}, { hostNetwork: true }), cfg, { namespaceEnabled: true, version });
  t.equal(host.outcome, 'skipped');
  t.match(host.warnings[0], /hostNetwork/);
  const named = pod({}, { containers: [{ name: 'aim-mesh-proxy', image: 'x' }] });
  t.equal(planInjection(named, cfg, { namespaceEnabled: true, version }).reason, 'already injected', 'container name alone is enough');
});

t.test('injecting twice gives the same pod; the patch only adds', async (t) => {
  for (const p of [pod(), pod({}, { initContainers: [{ name: 'init', image: 'busybox' }], volumes: [{ name: 'v', emptyDir: {} }] })]) {
    const { out, result } = apply(p);
    t.ok(result.patch.every((o) => o.op === 'add'));
    new Pod(out).validate();
    const again = apply(out);
    t.equal(again.result.outcome, 'skipped');
    t.same(again.out, out);
  }
  // A template without metadata (allowed in a Deployment) still gets the marker.
  const bare = { spec: { serviceAccountName: 'api', containers: [{ name: 'api', image: 'api:1' }] } };
  const { out } = apply(bare);
  t.same(out.metadata, { annotations: { 'aim-mesh.io/injected': version } });
});

t.test('service name and app port', async (t) => {
  const svc = (p: any) => arg(proxyOf(apply(p).out), '--service')[0];
  t.equal(svc(pod({ 'aim-mesh.io/service': 'checkout' }, { serviceAccountName: 'sa' })), 'checkout');
  t.equal(svc(pod({}, { serviceAccountName: 'payments' })), 'payments');
  t.equal(svc(pod({}, { serviceAccountName: 'default' }, { 'app.kubernetes.io/name': 'cart', app: 'x' })), 'cart');
  const none = planInjection(pod({}, {}, {}), cfg, { namespaceEnabled: true, version });
  t.equal(none.outcome, 'invalid');
  t.match(none.errors[0], /cannot tell the service name/);
  t.equal(planInjection(pod({ 'aim-mesh.io/service': 'Bad_Name' }), cfg, { namespaceEnabled: true, version }).outcome, 'invalid');

  const addr = (p: any) => arg(proxyOf(apply(p).out), '--service-addr')[0];
  t.equal(addr(pod({ 'aim-mesh.io/service-port': 'http' })), '127.0.0.1:8080');
  t.equal(addr(pod({ 'aim-mesh.io/service-port': '9000' })), '127.0.0.1:9000');
  t.match(planInjection(pod({ 'aim-mesh.io/service-port': 'grpc' }), cfg, { namespaceEnabled: true, version }).errors[0], /neither a port number nor/);
  const opaque = proxyOf(apply(pod({ 'aim-mesh.io/opaque-ports': '8080' })).out);
  t.same(arg(opaque, '--service-protocol'), ['tcp'], 'an opaque app port is served as TCP');
  t.same(arg(proxyOf(apply(pod()).out), '--service-protocol'), []);
});

t.test('clashes with what the proxy needs are errors', async (t) => {
  const clash = pod({}, { containers: [{ name: 'web', image: 'w', ports: [{ containerPort: 19000 }] }] });
  t.match(planInjection(clash, cfg, { namespaceEnabled: true, version }).errors[0], /port 19000, which the proxy needs/);
  const up = pod({ 'aim-mesh.io/upstreams': 'api:15001' });
  t.match(planInjection(up, cfg, { namespaceEnabled: true, version }).errors[0], /local port 15001/);
  const vol = pod({}, { volumes: [{ name: 'aim-mesh-identity', emptyDir: {} }] });
  t.match(planInjection(vol, cfg, { namespaceEnabled: true, version }).errors[0], /volume named 'aim-mesh-identity'/);
  const redirect = pod({ 'aim-mesh.io/transparent': 'true' }, { initContainers: [{ name: 'aim-mesh-redirect', image: 'x' }] });
  t.match(planInjection(redirect, cfg, { namespaceEnabled: true, version }).errors[0], /container named 'aim-mesh-redirect'/);
});

t.test('transparent mode: probe ports left out of capture, service-port probes warned about', async (t) => {
  const p = pod({ 'aim-mesh.io/transparent': 'true', 'aim-mesh.io/exclude-inbound-ports': '9100' }, {
    containers: [{
      name: 'web', image: 'w',
      ports: [{ name: 'http', containerPort: 8080 }, { name: 'health', containerPort: 8081 }],
      livenessProbe: { httpGet: { path: '/live', port: 'health' } },
      readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
      startupProbe: { tcpSocket: { port: 8082 } },
    }],
  });
  t.same(probePorts(p), [8080, 8081, 8082]);
  const { out, result } = apply(p);
  const redirect = out.spec.initContainers[0] as IContainer;
  t.equal(redirect.name, 'aim-mesh-redirect');
  t.same(arg(redirect, '--exclude-inbound-port'), ['8081', '8082', '9100']);
  t.same(arg(redirect, '--proxy-admin-port'), ['19000']);
  t.match(result.warnings[0], /probes the service port 8080/);
  // The injector's default applies when the annotation is absent.
  const def = apply(pod(), injectorConfig({ transparent: true })).out;
  t.equal(def.spec.initContainers[0].name, 'aim-mesh-redirect');
});

t.test('identity sources and Consul', async (t) => {
  const files = apply(pod({ 'aim-mesh.io/identity-secret': 'web-cert' }), injectorConfig({ identity: 'files' })).out;
  const fp = proxyOf(files);
  t.same(arg(fp, '--identity'), ['files']);
  t.same(arg(fp, '--cert'), ['/var/run/aim-mesh/tls/tls.crt']);
  t.same(files.spec.volumes.find((v: any) => v.name === 'aim-mesh-tls').secret, { secretName: 'web-cert' });
  new Pod(files).validate();

  const consul = apply(pod(), injectorConfig({ identity: 'consul', consul: { enabled: true, tokenSecret: 'consul-acl' } })).out;
  const cp = proxyOf(consul);
  t.same(arg(cp, '--identity'), ['consul']);
  t.same(arg(cp, '--discovery'), ['consul']);
  t.same(arg(cp, '--consul-addr'), ['$(HOST_IP):8500']);
  t.same(cp.env?.find((e) => e.name === 'CONSUL_HTTP_TOKEN')?.valueFrom?.secretKeyRef, { name: 'consul-acl', key: 'token', optional: true });

  const coord = proxyOf(apply(pod(), injectorConfig(), true).out);
  t.same(arg(coord, '--coordinator'), ['aim-mesh-coordinator.aim-mesh.svc:15010']);
  t.same(arg(coord, '--trust-domain'), ['aim.local']);
  const withBundle = proxyOf(apply(pod(), injectorConfig({}, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')).out);
  t.match(withBundle.env?.find((e) => e.name === 'AIM_MESH_TRUST_BUNDLE')?.value, /BEGIN CERTIFICATE/);

  t.throws(() => injectorConfig({ identity: 'local-ca' }), 'local-ca is refused on Kubernetes');
});

t.test('any annotation values: never throws, and an injected result always validates', async (t) => {
  const keys = ['aim-mesh.io/inject', 'aim-mesh.io/upstreams', 'aim-mesh.io/opaque-ports', 'aim-mesh.io/transparent',
    'aim-mesh.io/service', 'aim-mesh.io/service-port', 'aim-mesh.io/exclude-inbound-ports', 'aim-mesh.io/exclude-outbound-cidrs'];
  const value = fc.oneof(fc.string(), fc.constantFrom('true', 'enabled', 'disabled', 'api:9001', 'a:1,b:2', '8080', 'http', '10.0.0.0/8'));
  fc.assert(fc.property(fc.dictionary(fc.constantFrom(...keys), value), fc.boolean(), (annotations, ns) => {
    const p = pod(annotations);
    const r = planInjection(p, cfg, { namespaceEnabled: ns, version });
    if (r.outcome !== 'injected') return r.patch.length === 0;
    const out = jsonpatch.applyPatch(structuredClone(p), r.patch as jsonpatch.Operation[], true, false).newDocument;
    new Pod(out).validate();
    return planInjection(out, cfg, { namespaceEnabled: ns, version }).outcome === 'skipped';
  }), { numRuns: 300 });
  t.pass('property held');
});

t.test('every flag the injector passes is one the commands document', async (t) => {
  const { usage: agentUsage } = await import('../../../src/cli/commands/agent.ts');
  const { usage: redirectUsage } = await import('../../../src/cli/commands/redirect-traffic.ts');
  const everything = pod({ 'aim-mesh.io/upstreams': 'api:9001', 'aim-mesh.io/opaque-ports': '8080', 'aim-mesh.io/transparent': 'true',
    'aim-mesh.io/exclude-outbound-ports': '25', 'aim-mesh.io/exclude-outbound-cidrs': '10.0.0.0/8', 'aim-mesh.io/exclude-uids': '1',
    'aim-mesh.io/exclude-inbound-ports': '9100' });
  for (const c of [injectorConfig({ consul: { enabled: true } }), injectorConfig({ identity: 'files' })]) {
    const [redirect, proxy] = apply(everything, c).out.spec.initContainers as [IContainer, IContainer];
    for (const [container, text] of [[proxy, agentUsage], [redirect, redirectUsage]] as const) {
      const flags = (container.args ?? []).filter((a) => a.startsWith('--'));
      for (const f of new Set(flags)) {
        const documented = new RegExp(`(^|\\s)${f}[\\s=]`, 'm').test(text);
        t.ok(documented, `${container.args![0]} ${f}`);
      }
    }
  }
});

t.test('any pod-shaped garbage: never throws, never a half patch', async (t) => {
  const container = fc.record({ name: fc.oneof(fc.string(), fc.constant('web')), image: fc.anything(), ports: fc.anything() }, { requiredKeys: [] });
  const podArb = fc.oneof(
    fc.anything(),
    fc.record({
      metadata: fc.oneof(fc.anything(), fc.record({ annotations: fc.dictionary(fc.constantFrom('aim-mesh.io/inject', 'aim-mesh.io/transparent', 'aim-mesh.io/upstreams', 'x'), fc.anything()), labels: fc.anything() }, { requiredKeys: [] })),
      spec: fc.oneof(fc.anything(), fc.record({ containers: fc.oneof(fc.anything(), fc.array(fc.oneof(container, fc.anything()))), initContainers: fc.anything(), volumes: fc.anything(), serviceAccountName: fc.anything() }, { requiredKeys: [] })),
    }, { requiredKeys: [] }),
  );
  fc.assert(fc.property(podArb, (p) => {
    const r = planInjection(p, cfg, { namespaceEnabled: true, version });
    return r.outcome === 'injected' ? r.patch.length > 0 : r.patch.length === 0;
  }), { numRuns: 500 });
  const quoted = planInjection(pod({ 'aim-mesh.io/transparent': true as unknown as string }), cfg, { namespaceEnabled: true, version });
  t.match(quoted.errors[0], /values must be strings \(quote it: "true"\)/);
});
