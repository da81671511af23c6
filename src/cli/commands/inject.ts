/**
 * `aim-mesh inject -f FILE|-`: manual sidecar injection, like `linkerd inject`
 * and `istioctl kube-inject`. It runs the webhook's own injection code on each
 * pod template (src/k8s/inject.ts), so the two never disagree, and it is
 * idempotent: injecting its own output changes nothing.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { injectorConfig, loadInjectorConfig } from '../../k8s/config.ts';
import type { InjectorConfig } from '../../k8s/config.ts';
import { injectManifests, ManifestError } from '../../k8s/manifest-yaml.ts';
import { ConfigError } from '../../config/yaml-schema.ts';
import { version } from '../../version.ts';

export const usage = `Usage: aim-mesh inject -f FILE|- [options]

Add the aim-mesh sidecar to Kubernetes manifests and print them on stdout.
Reads Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs,
multi-document files and Lists; other kinds pass through untouched. A report
goes to stderr. Pods annotated aim-mesh.io/inject: disabled are left alone, and
running it on its own output changes nothing.

  aim-mesh inject -f deploy.yaml | kubectl apply -f -

Options:
  -f, --filename FILE|-      the manifests ('-' reads stdin)
  --config FILE              injector config (YAML; the chart's injector ConfigMap)
  --image IMAGE              proxy image (overrides the config)
  --transparent              transparent mode for pods without the annotation
  --failure-policy POLICY    Ignore (default): a workload that cannot be injected is
                             written unchanged, with a warning. Fail: exit 1, print nothing.
  -h, --help                 this text
`;

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFileSync(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        filename: { type: 'string', short: 'f' },
        config: { type: 'string' },
        image: { type: 'string' },
        transparent: { type: 'boolean' },
        'failure-policy': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`aim-mesh inject: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.filename === undefined) {
    process.stderr.write(`aim-mesh inject: -f FILE (or -f - for stdin) is required\n\n${usage}`);
    return 2;
  }
  const policy = values['failure-policy'];
  if (policy !== undefined && policy !== 'Ignore' && policy !== 'Fail') {
    process.stderr.write(`aim-mesh inject: --failure-policy must be Ignore or Fail, got '${policy}'\n`);
    return 2;
  }

  let cfg: InjectorConfig;
  try {
    cfg = loadInjectorConfig(values.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`aim-mesh inject: bad injector config:\n${err.message}\n`);
    return 2;
  }
  if (values.image !== undefined || values.transparent !== undefined || policy !== undefined) {
    const { trustBundlePem, ...base } = cfg;
    cfg = injectorConfig({
      ...base,
      ...(values.image !== undefined ? { image: values.image } : {}),
      ...(values.transparent !== undefined ? { transparent: values.transparent } : {}),
      ...(policy !== undefined ? { failurePolicy: policy } : {}),
    }, trustBundlePem);
  }

  let result;
  try {
    result = injectManifests(await readInput(values.filename), cfg, version);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (!(err instanceof ManifestError) && e.code !== 'ENOENT' && e.code !== 'EISDIR') throw err;
    process.stderr.write(`aim-mesh inject: ${values.filename}: ${e.message}\n`);
    return 1;
  }

  let invalid = 0;
  for (const r of result.reports) {
    const what = `${r.kind.toLowerCase()}/${r.name || '(unnamed)'}`;
    const status = r.outcome === 'injected' ? 'injected' : r.outcome === 'invalid' ? `NOT injected: ${r.reason}` : `skipped (${r.reason})`;
    process.stderr.write(`${what} ${status}\n`);
    for (const w of r.warnings) process.stderr.write(`  warning: ${w}\n`);
    if (r.outcome === 'invalid') invalid++;
  }
  if (invalid > 0 && cfg.failurePolicy === 'Fail') {
    process.stderr.write(`aim-mesh inject: ${invalid} workload${invalid === 1 ? '' : 's'} could not be injected (failure policy Fail)\n`);
    return 1;
  }
  process.stdout.write(result.output);
  return 0;
}
