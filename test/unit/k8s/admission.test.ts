/**
 * AdmissionReview v1 fixtures (as the API server sends them, with the fields
 * its built-in admission plugins have already defaulted) through the injector.
 * The returned JSON Patch is applied with fast-json-patch, and the resulting
 * Pod is validated against the Kubernetes schema (kubernetes-models).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import jsonpatch from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { BadReview, reviewAdmission } from '../../../src/k8s/admission.ts';
import { injectorConfig } from '../../../src/k8s/config.ts';
import { PROXY_UID } from '../../../src/k8s/defaults.ts';

const fixture = (name: string): { request: { uid: string; object: Record<string, any>; [k: string]: any } } & Record<string, any> =>
  JSON.parse(readFileSync(new URL(`../../fixtures/k8s/${name}`, import.meta.url), 'utf8'));

const cfg = injectorConfig({ image: 'registry.example/aim-mesh:0.1.0' });
const version = '0.1.0';

function review(name: string, namespaceEnabled: boolean, c = cfg) {
  const body = fixture(name);
  const out = reviewAdmission(body, c, { namespaceEnabled, version });
  return { body, out, response: out.review.response };
}

/** Apply the response's patch like the API server would, and validate the result as a Pod. */
function patched(body: { request: { object: unknown } }, patch: string): Record<string, any> {
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as jsonpatch.Operation[];
  for (const op of ops) if (op.op !== 'add') throw new Error(`unexpected op ${op.op}`);
  const errors = jsonpatch.validate(ops, body.request.object);
  if (errors) throw errors;
  const pod = jsonpatch.applyPatch(structuredClone(body.request.object), ops, true, false).newDocument as Record<string, any>;
  new Pod(pod as never).validate();
  return pod;
}

const arg = (c: IContainer, flag: string): string[] => (c.args ?? []).flatMap((a, i, all) => (a === flag ? [all[i + 1]!] : []));
const env = (c: IContainer, name: string) => c.env?.find((e) => e.name === name);

t.test("a Deployment's pod in an enabled namespace gets the native sidecar", async (t) => {
  const { body, out, response } = review('review-deployment-pod.json', true);
  t.equal(out.review.apiVersion, 'admission.k8s.io/v1');
  t.equal(out.review.kind, 'AdmissionReview');
  t.equal(response.uid, body.request.uid, 'uid echoed');
  t.equal(response.allowed, true);
  t.equal(response.patchType, 'JSONPatch');
  t.equal(response.warnings, undefined, 'no warnings');
  const pod = patched(body, response.patch!);

  t.equal(pod.metadata.annotations['aim-mesh.io/injected'], version);
  t.equal(pod.metadata.annotations['aim-mesh.io/upstreams'], 'api:9001,cache:9002', 'user annotations kept');
  t.same(pod.spec.containers, body.request.object.spec.containers, 'app containers untouched');
  t.equal(pod.spec.initContainers.length, 1);
  const proxy = pod.spec.initContainers[0] as IContainer;
  t.equal(proxy.name, 'aim-mesh-proxy');
  t.equal(proxy.restartPolicy, 'Always', 'native sidecar');
  t.equal(proxy.image, 'registry.example/aim-mesh:0.1.0');
  t.equal(proxy.args?.[0], 'agent');
  t.same(arg(proxy, '--service'), ['web'], 'service from the app label');
  t.same(arg(proxy, '--service-addr'), ['127.0.0.1:8080']);
  t.same(arg(proxy, '--listen'), ['0.0.0.0:20000']);
  t.same(arg(proxy, '--upstream'), ['api:9001', 'cache:9002']);
  t.same(arg(proxy, '--admin-bind'), ['127.0.0.1:19000']);
  t.same(arg(proxy, '--drain-timeout'), ['55s'], 'grace 60 s → drain 55 s');
  t.notOk(proxy.args?.includes('--wait-for-app-port'), 'never waits for the app: it starts after the proxy');
  t.notOk(proxy.args?.includes('--transparent'));
  t.match(proxy.startupProbe?.exec?.command?.join(' '), /127\.0\.0\.1:19000\/ready/);
  t.match(proxy.lifecycle?.preStop?.exec?.command?.join(' '), /\/drain.*POST/);
  t.same(env(proxy, 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
  t.same(env(proxy, 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
  t.same(env(proxy, 'POD_SERVICE_ACCOUNT')?.valueFrom?.fieldRef?.fieldPath, 'spec.serviceAccountName');
  t.equal(env(proxy, 'AIM_MESH_SPIFFE_ID')?.value, 'spiffe://aim.local/ns/$(POD_NAMESPACE)/dc/dc1/svc/web');
  t.equal(proxy.securityContext?.runAsUser, PROXY_UID);
  t.equal(proxy.securityContext?.runAsNonRoot, true);
  t.equal(proxy.securityContext?.readOnlyRootFilesystem, true);
  t.same(proxy.securityContext?.capabilities, { drop: ['ALL'] });
  t.same(pod.spec.volumes.map((v: { name: string }) => v.name), ['kube-api-access-9xk2p', 'aim-mesh-identity']);
  t.same(proxy.volumeMounts?.map((m) => m.name), ['aim-mesh-identity']);
});

t.test("a Job's pod opted in by annotation, transparent: redirect init container first", async (t) => {
  const { body, response } = review('review-job-pod.json', false);
  t.equal(response.allowed, true);
  const pod = patched(body, response.patch!);
  t.equal(pod.spec.restartPolicy, 'Never', 'the Job still completes: the sidecar does not block it');
  t.same(pod.spec.initContainers.map((c: IContainer) => c.name), ['aim-mesh-redirect', 'aim-mesh-proxy']);
  const [redirect, proxy] = pod.spec.initContainers as [IContainer, IContainer];
  t.equal(redirect.restartPolicy, undefined, 'redirect-traffic runs once and exits');
  t.equal(redirect.args?.[0], 'redirect-traffic');
  t.same(arg(redirect, '--proxy-uid'), [String(PROXY_UID)]);
  t.same(arg(redirect, '--proxy-outbound-port'), ['15001']);
  t.same(arg(redirect, '--exclude-outbound-cidr'), ['169.254.169.254/32']);
  t.equal(redirect.securityContext?.runAsUser, 0, 'root, only to write iptables rules');
  t.same(redirect.securityContext?.capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
  t.equal(proxy.restartPolicy, 'Always');
  t.same(arg(proxy, '--service'), ['migrate']);
  t.same(arg(proxy, '--outbound-port'), ['15001']);
  t.ok(proxy.args?.includes('--transparent'));
  t.same(arg(proxy, '--service-addr'), [], 'no app port: outbound only');
  t.same(arg(proxy, '--drain-timeout'), ['27s'], 'default grace 30 s → 27 s');
  t.equal(env(proxy, 'AIM_MESH_OPAQUE_PORTS')?.value, '5432');
  t.same(arg(proxy, '--upstream'), ['db:5432/tcp'], 'an opaque upstream port is carried as TCP');
});

t.test('an already-injected pod is left alone', async (t) => {
  const { response, out } = review('review-already-injected-pod.json', true);
  t.equal(response.allowed, true);
  t.equal(response.patch, undefined);
  t.equal(response.patchType, undefined);
  t.equal(out.result?.reason, 'already injected');
  // The fixture itself is a valid pod with exactly one proxy.
  const pod = fixture('review-already-injected-pod.json').request.object;
  new Pod(pod as never).validate();
  t.equal(pod.spec.initContainers.filter((c: IContainer) => c.name === 'aim-mesh-proxy').length, 1);
});

t.test('an opted-out pod in an enabled namespace is left alone, silently', async (t) => {
  const { response, out } = review('review-opted-out-pod.json', true);
  t.equal(response.allowed, true);
  t.equal(response.patch, undefined);
  t.equal(response.warnings, undefined);
  t.equal(out.result?.reason, 'opted out by annotation');
});

t.test('a pod with init containers of its own: the proxy runs first, theirs after', async (t) => {
  const { body, response } = review('review-existing-init-pod.json', true);
  const pod = patched(body, response.patch!);
  t.same(pod.spec.initContainers.map((c: IContainer) => c.name), ['aim-mesh-proxy', 'wait-for-db', 'chown-data']);
  t.same(pod.spec.initContainers.slice(1), body.request.object.spec.initContainers, 'user init containers unchanged');
  const proxy = pod.spec.initContainers[0] as IContainer;
  t.same(arg(proxy, '--service'), ['orders'], 'service from the service account');
  t.same(arg(proxy, '--service-addr'), ['127.0.0.1:7070'], 'first containerPort');
  t.same(pod.spec.volumes.map((v: { name: string }) => v.name), ['data', 'kube-api-access-m2t8c', 'aim-mesh-identity']);
});

t.test('a namespace without the label and a pod without the annotation: not injected', async (t) => {
  const { response, out } = review('review-deployment-pod.json', false);
  t.equal(response.allowed, true);
  t.equal(response.patch, undefined);
  t.match(out.result?.reason, /not enabled/);
});

t.test('bad annotations: allowed with a warning (Ignore), refused (Fail)', async (t) => {
  const body = fixture('review-deployment-pod.json');
  body.request.object.metadata.annotations['aim-mesh.io/upstreams'] = 'api:9001,nope,cache:99999';
  const ignore = reviewAdmission(body, cfg, { namespaceEnabled: true, version }).review.response;
  t.equal(ignore.allowed, true);
  t.equal(ignore.patch, undefined, 'not injected: a half-configured proxy would be worse');
  t.match(ignore.warnings?.join('\n'), /'nope' is not NAME:PORT/);
  t.match(ignore.warnings?.join('\n'), /'cache:99999'/);

  const fail = reviewAdmission(body, injectorConfig({ failurePolicy: 'Fail' }), { namespaceEnabled: true, version }).review.response;
  t.equal(fail.allowed, false);
  t.equal(fail.status?.code, 400);
  t.match(fail.status?.message, /not injected: .*'nope' is not NAME:PORT/);
});

t.test('unexpected requests: allowed untouched with a warning; non-reviews throw', async (t) => {
  const body = fixture('review-deployment-pod.json');
  body.request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
  const r = reviewAdmission(body, cfg, { namespaceEnabled: true, version }).review.response;
  t.equal(r.allowed, true);
  t.equal(r.patch, undefined);
  t.match(r.warnings?.[0], /only handles Pod CREATE/);

  const noSpec = fixture('review-deployment-pod.json');
  delete noSpec.request.object.spec;
  const r2 = reviewAdmission(noSpec, cfg, { namespaceEnabled: true, version }).review.response;
  t.equal(r2.allowed, true);
  t.match(r2.warnings?.join(), /no spec/);

  t.throws(() => reviewAdmission({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: {} }, cfg, { namespaceEnabled: true, version }), BadReview);
  t.throws(() => reviewAdmission({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1beta1', request: { uid: 'x' } }, cfg, { namespaceEnabled: true, version }), BadReview);
  t.throws(() => reviewAdmission(null, cfg, { namespaceEnabled: true, version }), BadReview);
});
