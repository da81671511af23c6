/**
 * The Helm chart without a helm binary: Chart.yaml and values.yaml parse,
 * values.yaml satisfies values.schema.json, every .Values path in the
 * templates exists (and every value is used), and the templates, rendered by
 * a strict Go-template subset (support/go-template.ts), give manifests that
 * validate against the Kubernetes schema and refer to each other correctly.
 * The example manifests validate too, before and after `aim-mesh inject`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { injectorConfig, InjectorConfigSchema } from '../../../src/k8s/config.ts';
import { parseYamlWithSchema } from '../../../src/config/yaml-schema.ts';
import { injectManifests } from '../../../src/k8s/manifest-yaml.ts';
import { usage as coordinatorUsage } from '../../../src/cli/commands/coordinator.ts';
import { usage as webhookUsage } from '../../../src/cli/commands/inject-webhook.ts';
import { Renderer } from './support/go-template.ts';

const chartDir = new URL('../../../helm/aim-mesh/', import.meta.url).pathname;
const examplesDir = new URL('../../../helm/examples/', import.meta.url).pathname;
const read = (p: string): string => readFileSync(join(chartDir, p), 'utf8');
const chart = parse(read('Chart.yaml')) as Record<string, string>;
const values = parse(read('values.yaml')) as Record<string, any>;
const templateFiles = readdirSync(join(chartDir, 'templates')).sort();
const templates = Object.fromEntries(templateFiles.map((f) => [f, read(`templates/${f}`)]));
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

async function validate(obj: K8sObject): Promise<void> {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const mod = await import(`kubernetes-models/${group ? `${group}/` : ''}${version}`) as Record<string, new (o: unknown) => { validate(): void }>;
  const Model = mod[obj.kind];
  if (!Model) throw new Error(`no model for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

function render(overrides: (v: Record<string, any>) => void = () => {}, namespace = 'aim-mesh'): K8sObject[] {
  const v = structuredClone(values);
  overrides(v);
  const r = new Renderer();
  const parsed = Object.entries(templates).map(([f, src]) => [f, r.addTemplate(src)] as const);
  const root = { Values: v, Release: { Name: 'mesh', Namespace: namespace, Service: 'Helm' }, Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion } };
  const out: K8sObject[] = [];
  for (const [file, nodes] of parsed) {
    if (file.startsWith('_')) continue;
    const text = r.render(nodes, root);
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}\n${text}`);
      const js = doc.toJS() as K8sObject | null;
      if (js) out.push(js);
    }
  }
  return out;
}

const find = (objs: K8sObject[], kind: string, name: string, ns?: string): K8sObject => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name && (ns === undefined || x.metadata.namespace === ns));
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
};

t.test('Chart.yaml and values.yaml', async (t) => {
  t.equal(chart.apiVersion, 'v2');
  t.equal(chart.name, 'aim-mesh');
  t.match(chart.version, /^\d+\.\d+\.\d+$/);
  t.equal(chart.appVersion, pkg.version, 'appVersion (the default image tag) follows package.json');
  t.match(chart.kubeVersion, />=1\.29/, 'native sidecars need Kubernetes 1.29');
  const ajv = new Ajv({ allErrors: true, strict: false });
  const check = ajv.compile(JSON.parse(read('values.schema.json')));
  t.ok(check(values), JSON.stringify(check.errors));
  for (const [path, bad] of [['injector.failurePolicy', 'Maybe'], ['identity.source', 'local-ca'], ['proxy.inboundPort', 0], ['injector.typo', 1]] as const) {
    const v = structuredClone(values);
    const keys = path.split('.');
    keys.slice(0, -1).reduce((o, k) => o[k], v)[keys.at(-1)!] = bad;
    t.notOk(check(v), `schema refuses ${path}=${bad}`);
  }
});

t.test('every .Values path in the templates exists, and every value is used', async (t) => {
  const all = Object.values(templates).join('\n');
  const used = new Set([...all.matchAll(/\.Values((?:\.[A-Za-z0-9_]+)+)/g)].map((m) => m[1]!.slice(1)));
  t.ok(used.size > 20);
  for (const p of used) {
    const v = p.split('.').reduce<any>((o, k) => (o !== null && typeof o === 'object' && k in o ? o[k] : undefined), values);
    t.not(v, undefined, `.Values.${p} is in values.yaml`);
  }
  const leaves = (o: any, prefix: string[] = []): string[] =>
    o !== null && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length > 0
      ? Object.entries(o).flatMap(([k, v]) => leaves(v, [...prefix, k]))
      : [prefix.join('.')];
  for (const leaf of leaves(values)) {
    const segs = leaf.split('.');
    t.ok(segs.some((_, i) => used.has(segs.slice(0, i + 1).join('.'))), `values.yaml ${leaf} is used by a template`);
  }
});

t.test('rendered with the default values: valid manifests that fit together', async (t) => {
  const objs = render();
  for (const o of objs) await validate(o);
  t.same(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
    'ConfigMap/aim-mesh-injector-config', 'Deployment/aim-mesh-coordinator', 'Deployment/aim-mesh-injector',
    'MutatingWebhookConfiguration/aim-mesh-injector', 'Secret/aim-mesh-injector-tls', 'Secret/aim-mesh-join-token',
    'Secret/aim-mesh-join-token', 'Service/aim-mesh-coordinator', 'Service/aim-mesh-injector',
    'ServiceAccount/aim-mesh-coordinator', 'ServiceAccount/aim-mesh-injector',
  ]);
  t.same(objs.filter((o) => o.metadata.name === 'aim-mesh-join-token').map((o) => o.metadata.namespace), ['aim-mesh', 'default']);

  for (const name of ['aim-mesh-coordinator', 'aim-mesh-injector']) {
    const svc = find(objs, 'Service', name);
    const dep = find(objs, 'Deployment', name);
    const podLabels = dep.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(svc.spec.selector)) t.equal(podLabels[k], v, `${name}: Service selects the pods`);
    t.same(dep.spec.selector.matchLabels, svc.spec.selector);
    const ports = dep.spec.template.spec.containers[0].ports.map((p: { name: string }) => p.name);
    for (const p of svc.spec.ports) t.ok(ports.includes(p.targetPort), `${name}: targetPort ${p.targetPort} exists`);
    t.equal(dep.spec.template.metadata.annotations['aim-mesh.io/inject'], 'disabled', `${name} is never injected`);
    t.equal(dep.spec.template.spec.securityContext.runAsNonRoot, true);
    const mounts = dep.spec.template.spec.containers[0].volumeMounts.map((m: { name: string }) => m.name);
    t.same(mounts.sort(), dep.spec.template.spec.volumes.map((v: { name: string }) => v.name).sort(), `${name}: every volume is mounted`);
  }

  // The webhook calls the injector's Service, trusting the CA that signed the Secret's certificate.
  const hook = find(objs, 'MutatingWebhookConfiguration', 'aim-mesh-injector');
  const tls = find(objs, 'Secret', 'aim-mesh-injector-tls');
  t.same(hook.webhooks.map((w: any) => w.clientConfig.service.path), ['/inject/enabled', '/inject']);
  t.same(hook.webhooks.map((w: any) => w.failurePolicy), ['Ignore', 'Ignore']);
  for (const w of hook.webhooks) {
    t.same(w.clientConfig.service, { name: 'aim-mesh-injector', namespace: 'aim-mesh', path: w.clientConfig.service.path, port: 443 });
    t.equal(w.clientConfig.caBundle, tls.data['ca.crt']);
    t.same(w.rules[0].resources, ['pods']);
    t.same(w.rules[0].operations, ['CREATE']);
    const excluded = w.namespaceSelector.matchExpressions.find((e: any) => e.key === 'kubernetes.io/metadata.name').values;
    t.ok(excluded.includes('aim-mesh') && excluded.includes('kube-system'), 'control plane namespaces excluded');
  }
  t.same(hook.webhooks[0].namespaceSelector.matchLabels, { 'aim-mesh.io/inject': 'enabled' });

  // The injector's config is valid for the injector, and points at the coordinator's Service.
  const cm = find(objs, 'ConfigMap', 'aim-mesh-injector-config');
  const cfg = parseYamlWithSchema(cm.data['injector.yaml'], 'injector.yaml', InjectorConfigSchema);
  const coordSvc = find(objs, 'Service', 'aim-mesh-coordinator');
  const grpc = coordSvc.spec.ports.find((p: { name: string }) => p.name === 'grpc').port;
  t.equal(cfg.coordinator.address, `aim-mesh-coordinator.aim-mesh.svc:${grpc}`);
  t.equal(cfg.image, `aim-mesh:${chart.appVersion}`);
  t.equal(cfg.trustBundleFile, '/var/run/aim-mesh/trust/trust-bundle.pem');
  const injector = find(objs, 'Deployment', 'aim-mesh-injector').spec.template.spec;
  const mountOf = (name: string) => injector.containers[0].volumeMounts.find((m: { name: string }) => m.name === name).mountPath;
  t.ok(cfg.trustBundleFile!.startsWith(mountOf('trust')), 'the trust bundle file is mounted');
  t.same(injector.volumes.find((v: { name: string }) => v.name === 'trust').secret.items, [{ key: 'trust-bundle.pem', path: 'trust-bundle.pem' }], 'never the CA key');
  const args: string[] = injector.containers[0].args;
  t.ok(args.includes(`--config=${mountOf('config')}/injector.yaml`));
  t.ok(args.includes(`--tls-cert=${mountOf('webhook-tls')}/tls.crt`));

  // Every flag the chart passes is one the command documents.
  const coordArgs: string[] = find(objs, 'Deployment', 'aim-mesh-coordinator').spec.template.spec.containers[0].args;
  t.equal(coordArgs[0], 'coordinator');
  t.equal(args[0], 'inject-webhook');
  for (const [list, text] of [[coordArgs, coordinatorUsage], [args, webhookUsage]] as const) {
    for (const a of list.slice(1)) t.ok(text.includes(`${a.split('=')[0]} `), `${a.split('=')[0]} is a flag of ${list[0]}`);
  }
});

t.test('rendered with Consul, given TLS, files identity and pull secrets', async (t) => {
  const objs = render((v) => {
    v.identity.source = 'files';
    v.consul.enabled = true;
    v.consul.coordinatorAddress = 'http://consul-server.consul.svc:8500';
    v.consul.aclToken.secretName = 'consul-acl';
    v.injector.tls = { certPem: 'CERT', keyPem: 'KEY', caBundlePem: 'CA' };
    v.injector.failurePolicy = 'Fail';
    v.imagePullSecrets = [{ name: 'regcred' }];
  }, 'mesh-system');
  for (const o of objs) await validate(o);
  t.notOk(objs.some((o) => o.metadata.name === 'aim-mesh-join-token'), 'no join token without coordinator identity');
  const coord = find(objs, 'Deployment', 'aim-mesh-coordinator').spec.template.spec;
  t.ok(coord.containers[0].args.includes('--consul-addr=http://consul-server.consul.svc:8500'));
  t.same(coord.containers[0].env[0].valueFrom.secretKeyRef, { name: 'consul-acl', key: 'token' });
  t.same(coord.imagePullSecrets, [{ name: 'regcred' }]);
  const tls = find(objs, 'Secret', 'aim-mesh-injector-tls');
  t.equal(Buffer.from(tls.data['tls.crt'], 'base64').toString(), 'CERT');
  const hook = find(objs, 'MutatingWebhookConfiguration', 'aim-mesh-injector');
  t.equal(Buffer.from(hook.webhooks[0].clientConfig.caBundle, 'base64').toString(), 'CA');
  t.same(hook.webhooks.map((w: any) => w.failurePolicy), ['Fail', 'Ignore'], 'the catch-all webhook never blocks the cluster');
  const cfg = parseYamlWithSchema(find(objs, 'ConfigMap', 'aim-mesh-injector-config').data['injector.yaml'], 'injector.yaml', InjectorConfigSchema);
  t.equal(cfg.identity, 'files');
  t.same(cfg.consul, { enabled: true, address: '$(HOST_IP):8500', tokenSecret: 'consul-acl', tokenSecretKey: 'token' });
  t.equal(cfg.failurePolicy, 'Fail');
  t.equal(cfg.coordinator.address, 'aim-mesh-coordinator.mesh-system.svc:15010');

  t.throws(() => render((v) => { v.injector.tls.certPem = 'CERT'; }), /required: injector.tls.keyPem/);
});

t.test('the examples validate, before and after injection', async (t) => {
  for (const f of readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'))) {
    const text = readFileSync(join(examplesDir, f), 'utf8');
    const before = parseAllDocuments(text).map((d) => d.toJS() as K8sObject);
    for (const o of before) await validate(o);
    const { output, reports } = injectManifests(text, injectorConfig(), '0.1.0');
    t.ok(reports.some((r) => r.outcome === 'injected'), `${f}: something injected`);
    t.notOk(reports.some((r) => r.outcome === 'invalid'), `${f}: nothing invalid`);
    for (const o of parseAllDocuments(output).map((d) => d.toJS() as K8sObject)) await validate(o);
    t.equal(parseAllDocuments(text).length, parseAllDocuments(output).length);
  }
});
