/**
 * `aim-mesh inject` as a user runs it: a real process, a file or stdin in,
 * manifests on stdout, a report on stderr.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';

const root = new URL('../..', import.meta.url).pathname;
const fixture = join(root, 'test/fixtures/k8s/manifests.yaml');

function cli(args: string[], stdin?: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['bin/aim-mesh.js', ...args], { cwd: root });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('exit', (code) => resolve({ code, out, err }));
    c.stdin.end(stdin ?? '');
  });
}

const dir = mkdtempSync(join(tmpdir(), 'aim-mesh-inject-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('inject -f FILE, then inject its output from stdin: no change', async (t) => {
  const first = await cli(['inject', '-f', fixture]);
  t.equal(first.code, 0, first.err);
  t.match(first.err, /deployment\/web injected/);
  t.match(first.err, /job\/migrate injected/);
  t.match(first.err, /service\/web skipped \(not a workload\)/);
  t.match(first.err, /deployment\/legacy skipped \(opted out by annotation\)/);
  const docs = parseAllDocuments(first.out).map((d) => d.toJS());
  t.equal(docs.length, 4);
  t.equal(docs[0].spec.template.spec.initContainers[0].name, 'aim-mesh-proxy');
  t.equal(docs[1].spec.template.spec.initContainers[0].name, 'aim-mesh-proxy');
  t.equal(docs[2].spec.template, undefined);
  t.equal(docs[3].spec.template.spec.initContainers, undefined);

  const second = await cli(['inject', '-f', '-'], first.out);
  t.equal(second.code, 0);
  t.equal(second.out, first.out, 'idempotent');
  t.match(second.err, /deployment\/web skipped \(already injected\)/);
});

t.test('flags: config file, image, transparent, failure policy', async (t) => {
  const cfg = join(dir, 'injector.yaml');
  writeFileSync(cfg, 'image: example/aim-mesh:1.2.3\ntrustDomain: shop.example\n');
  const r = await cli(['inject', '-f', fixture, '--config', cfg, '--transparent', '--image', 'other:2']);
  t.equal(r.code, 0, r.err);
  const web = parseAllDocuments(r.out)[0]!.toJS();
  const [redirect, proxy] = web.spec.template.spec.initContainers;
  t.equal(redirect.name, 'aim-mesh-redirect', '--transparent');
  t.equal(proxy.image, 'other:2', '--image wins over the config file');
  t.match(proxy.env.find((e: { name: string }) => e.name === 'AIM_MESH_SPIFFE_ID').value, /^spiffe:\/\/shop\.example\//, 'config file read');

  const bad = readFileSync(fixture, 'utf8').replace('api:9001,cache:9002', 'api:nope');
  const ignore = await cli(['inject', '-f', '-'], bad);
  t.equal(ignore.code, 0);
  t.match(ignore.err, /deployment\/web NOT injected: .*'api:nope'/);
  t.match(ignore.out, /api:nope/, 'written unchanged');
  const fail = await cli(['inject', '-f', '-', '--failure-policy', 'Fail'], bad);
  t.equal(fail.code, 1);
  t.equal(fail.out, '', 'nothing half-done on stdout');
  t.match(fail.err, /could not be injected \(failure policy Fail\)/);
});

t.test('usage errors', async (t) => {
  const none = await cli(['inject']);
  t.equal(none.code, 2);
  t.match(none.err, /-f FILE .* is required/);
  const help = await cli(['inject', '--help']);
  t.equal(help.code, 0);
  t.match(help.out, /Usage: aim-mesh inject -f FILE\|-/);
  const missing = await cli(['inject', '-f', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 1);
  t.match(missing.err, /ENOENT/);
  const broken = await cli(['inject', '-f', '-'], 'a: [\n');
  t.equal(broken.code, 1);
  t.match(broken.err, /document 1/);
  const badCfg = join(dir, 'bad.yaml');
  writeFileSync(badCfg, 'identity: local-ca\nports: { inbound: 0 }\n');
  const cfgErr = await cli(['inject', '-f', fixture, '--config', badCfg]);
  t.equal(cfgErr.code, 2);
  t.match(cfgErr.err, /bad\.yaml:1: identity/);
  t.match(cfgErr.err, /ports\.inbound/);
});
