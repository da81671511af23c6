/**
 * `aim-mesh coordinator` as a process: flags, CA creation, the policy file,
 * the dashboard and API over HTTP, Certify over gRPC, clean exit on SIGTERM,
 * and exit code 2 with a message on bad flags.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { CoordinatorIdentitySource } from '../../src/identity/sources/coordinator.ts';
import { waitFor } from '../unit/coordinator/support.ts';

const cli = new URL('../../src/cli/index.ts', import.meta.url).pathname;

t.test('aim-mesh coordinator runs, serves and stops on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aim-mesh-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const policy = join(dir, 'policy.yaml');
  await writeFile(policy, 'default_authz: deny\nauthz:\n  - { source: web, destination: api, action: allow }\n');
  const child = spawn(process.execPath, [cli, 'coordinator', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0',
    '--ca-dir', join(dir, 'ca'), '--join-token', 'web=cli-join-token-1', '--policy', policy, '--objective', 'api=0.995',
    '--leaf-ttl', '10m', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let err = '';
  child.stderr.on('data', (d) => { err += String(d); });
  child.stdout.resume();
  const m = await waitFor('the listening line', () => /gRPC on (\S+), dashboard at (\S+)\//.exec(err));
  const [, grpcTarget, httpUrl] = m;

  t.same(await (await request(`${httpUrl}/healthz`)).body.json(), { ok: true });
  const pol = await (await request(`${httpUrl}/api/v1/policy`)).body.json() as any;
  t.match(pol.policy, { default_authz: 'deny', authz: [{ source: 'web', destination: 'api', action: 'allow' }] }, 'policy from --policy');
  const page = await request(`${httpUrl}/`);
  t.match(page.headers['content-security-policy'], /script-src 'self'/);
  t.match(await page.body.text(), /<svg id="topology"/, 'the dashboard is served');

  const roots = [await readFile(join(dir, 'ca', 'trust-bundle.pem'), 'utf8')];
  const src = new CoordinatorIdentitySource({ target: grpcTarget!, spiffeId: 'spiffe://aim.local/ns/default/dc/dc1/svc/web', rootsPem: roots, joinToken: 'cli-join-token-1', log: { info() {}, warn() {}, error() {} } });
  t.teardown(() => src.close());
  const leaf = await src.start();
  const life = leaf.notAfter.getTime() - leaf.notBefore.getTime();
  t.ok(life > 9 * 60_000 && life <= 11 * 60_000, '--leaf-ttl 10m honoured');

  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0, 'clean exit on SIGTERM');
});

t.test('bad flags exit 2 with a message', async (t) => {
  const run = async (args: string[]): Promise<{ code: number; err: string }> => {
    const child = spawn(process.execPath, [cli, 'coordinator', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += String(d); });
    const [code] = await once(child, 'exit');
    return { code, err };
  };
  const [noCa, badListen, unknown] = await Promise.all([
    run(['--listen', '127.0.0.1:0']),
    run(['--ca-dir', '/tmp/x', '--listen', 'nope']),
    run(['--frobnicate']),
  ]);
  t.equal(noCa.code, 2);
  t.match(noCa.err, /--ca-dir is required/);
  t.equal(badListen.code, 2);
  t.match(badListen.err, /--listen expects HOST:PORT/);
  t.equal(unknown.code, 2);
  t.match(unknown.err, /Unknown option '--frobnicate'/);
});
