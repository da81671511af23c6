/**
 * Manual injection over multi-document YAML: only workloads change, the
 * change is exactly the webhook's patch, everything else round-trips, and a
 * second run changes nothing.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import jsonpatch from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { injectorConfig } from '../../../src/k8s/config.ts';
import { planInjection } from '../../../src/k8s/inject.ts';
import { prefixPatch } from '../../../src/k8s/json-patch.ts';
import { injectManifests, ManifestError } from '../../../src/k8s/manifest-yaml.ts';

const cfg = injectorConfig();
const version = '0.1.0';
const source = readFileSync(new URL('../../fixtures/k8s/manifests.yaml', import.meta.url), 'utf8');
const docsOf = (text: string): any[] => parseAllDocuments(text as string).map((d) => d.toJS());

t.test('a multi-document manifest: only the workloads are injected', async (t) => {
  const { output, reports } = injectManifests(source, cfg, version);
  t.same(reports.map((r) => `${r.kind}/${r.name}:${r.outcome}`), [
    'Deployment/web:injected', 'Job/migrate:injected', 'Service/web:passed', 'Deployment/legacy:skipped',
  ]);
  const before = docsOf(source);
  const after = docsOf(output);
  t.equal(after.length, 4);
  t.same(after[2], before[2], 'the Service is untouched');
  t.same(after[3], before[3], 'the opted-out Deployment is untouched');

  // The change is exactly the webhook's patch, applied under the pod template.
  for (const [i, prefix] of [[0, '/spec/template'], [1, '/spec/template']] as const) {
    const r = planInjection(before[i].spec.template, cfg, { namespaceEnabled: true, version });
    const expected = jsonpatch.applyPatch(structuredClone(before[i]), prefixPatch(prefix, r.patch) as jsonpatch.Operation[], true, false).newDocument;
    t.same(after[i], expected, `document ${i + 1} = webhook patch`);
  }
  new Deployment(after[0]).validate();
  new Job(after[1]).validate();
  t.equal(after[0].spec.template.spec.initContainers[0].restartPolicy, 'Always');

  // Unchanged documents are written back byte for byte (here: the Service and the opted-out Deployment).
  const tail = source.slice(source.indexOf('apiVersion: v1\nkind: Service'));
  t.ok(output.endsWith(tail), 'untouched documents are byte-identical');
  // In changed documents, comments and the user's formatting survive.
  t.match(output, /^# A small app: web calls api/);
  t.match(output, /app: web # the service name comes from here/);
  t.match(output, /image: "ghcr.io\/example\/web:1.4.2"/);
  t.match(output, /selector: \{ app: web \}/);

  const twice = injectManifests(output, cfg, version);
  t.equal(twice.output, output, 'injecting twice gives the same output');
  t.ok(twice.reports.every((r) => r.outcome !== 'injected'));
});

t.test('Lists, CronJobs and unknown kinds', async (t) => {
  const text = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: { name: settings }
    data: { a: "1" }
  - apiVersion: batch/v1
    kind: CronJob
    metadata: { name: report }
    spec:
      schedule: "0 3 * * *"
      jobTemplate:
        spec:
          template:
            metadata: { labels: { app: report } }
            spec:
              restartPolicy: OnFailure
              containers: [{ name: report, image: "report:2" }]
---
apiVersion: example.com/v1
kind: Widget
metadata: { name: w }
spec: { template: { spec: { containers: [] } } }
`;
  const { output, reports } = injectManifests(text, cfg, version);
  t.same(reports.map((r) => `${r.kind}/${r.name}:${r.outcome}`), ['ConfigMap/settings:passed', 'CronJob/report:injected', 'Widget/w:passed']);
  const [list, widget] = docsOf(output);
  const cron = list.items[1];
  new CronJob(cron).validate();
  t.equal(cron.spec.jobTemplate.spec.template.spec.initContainers[0].name, 'aim-mesh-proxy');
  t.equal(cron.spec.jobTemplate.spec.template.metadata.annotations['aim-mesh.io/injected'], version);
  t.same(list.items[0], docsOf(text)[0].items[0]);
  t.same(widget, docsOf(text)[1]);
  t.equal(injectManifests(output, cfg, version).output, output);
});

t.test('workloads that cannot be injected are reported and left as they are', async (t) => {
  const text = `apiVersion: apps/v1
kind: Deployment
metadata: { name: nameless }
spec:
  template:
    spec:
      containers: [{ name: c, image: i }]
`;
  const { output, reports } = injectManifests(text, cfg, version);
  t.equal(reports[0]?.outcome, 'invalid');
  t.match(reports[0]?.reason, /cannot tell the service name/);
  t.equal(output, text);
});

t.test('empty input, JSON input and broken YAML', async (t) => {
  t.equal(injectManifests('', cfg, version).output, '');
  const json = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'p' } }, spec: { containers: [{ name: 'p', image: 'p' }] } });
  const out = injectManifests(json, cfg, version);
  t.equal(out.reports[0]?.outcome, 'injected');
  t.equal(docsOf(out.output)[0].spec.initContainers[0].name, 'aim-mesh-proxy');
  t.throws(() => injectManifests('kind: Pod\n  bad: [\n', cfg, version), ManifestError);
  t.throws(() => injectManifests('a: 1\na: 2\n', cfg, version), ManifestError, 'duplicate keys are refused');
});
