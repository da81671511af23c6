/**
 * Issue 7, test 3 with a real remote caller: the admin server bound to a
 * non-loopback address (which requires admin.token), called from another
 * network namespace over a veth pair this test creates (10.200.x.0/30) and
 * deletes. A mutating route refuses that caller without the token, accepts
 * it with the token, and answers GET with 405; read-only routes stay open.
 * Skipped when namespaces cannot be created (not root, no `ip`).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import pino from 'pino';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent } from '../../src/agent/run.ts';
import { tempRegistry } from '../support/mesh.ts';

const run = promisify(execFile);
const quietLog = (): pino.Logger => pino({ level: 'info' }, new Writable({ write(_c, _e, cb) { cb(); } }));

const ns = `aimadm${process.pid}`;
const host = `aah${process.pid % 100000}`;
const peer = `aan${process.pid % 100000}`;
const x = 20 + (process.pid % 200);
const hostIp = `10.200.${x}.1`;
const nsIp = `10.200.${x}.2`;

async function setup(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    await run('ip', ['netns', 'add', ns]);
  } catch {
    return false;
  }
  await run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  await run('ip', ['link', 'set', peer, 'netns', ns]);
  await run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', host]);
  await run('ip', ['link', 'set', host, 'up']);
  await run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', peer]);
  await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up']);
  return true;
}

async function cleanup(): Promise<void> {
  await run('ip', ['link', 'del', host]).catch(() => {});
  await run('ip', ['netns', 'del', ns]).catch(() => {});
}

/** curl from inside the namespace: [status, body]. */
async function curlFromNs(method: string, url: string, headers: string[] = []): Promise<[number, string]> {
  const args = ['netns', 'exec', ns, 'curl', '-s', '-m', '5', '-X', method, '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), url];
  const { stdout } = await run('ip', args);
  const i = stdout.lastIndexOf('\n');
  return [Number(stdout.slice(i + 1)), stdout.slice(0, i)];
}

const canNetns = await setup();

t.test('a caller from another network namespace', { skip: canNetns ? false : 'cannot create network namespaces here (needs root and iproute2)' }, async (t) => {
  t.teardown(cleanup);
  const token = 'remote-token-0123456789';
  const raw = {
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
    admin: { bind: `${hostIp}:0` },
    drain_timeout: '1s',
  };
  t.throws(() => configFromObject(raw, 'test'), /admin\.token/, 'binding beyond loopback without a token is refused');
  const a = await startAgent(configFromObject({ ...raw, admin: { bind: `${hostIp}:0`, token } }, 'test'), { log: quietLog() });
  t.teardown(() => a.stop());
  const base = `http://${hostIp}:${a.adminPort}`;

  const [readyStatus, readyBody] = await curlFromNs('GET', `${base}/ready`);
  t.equal(readyStatus, 200, 'read-only routes answer a remote caller');
  t.same(JSON.parse(readyBody), { ready: true });
  const [info] = await curlFromNs('GET', `${base}/server_info`);
  t.equal(info, 200);

  const [noToken, body] = await curlFromNs('POST', `${base}/healthcheck/fail`);
  t.equal(noToken, 403, 'mutating route, remote caller, no token: refused');
  t.match(JSON.parse(body), { error: 'forbidden' });
  const [badToken] = await curlFromNs('POST', `${base}/healthcheck/fail`, ['Authorization: Bearer not-the-token']);
  t.equal(badToken, 403);
  t.equal(a.agent.healthcheckFailed, false, 'nothing changed');
  const [get] = await curlFromNs('GET', `${base}/healthcheck/fail`, [`Authorization: Bearer ${token}`]);
  t.equal(get, 405, 'GET on a mutating route: 405 even with the token');
  t.equal(a.agent.healthcheckFailed, false);
  const [ok] = await curlFromNs('POST', `${base}/healthcheck/fail`, [`Authorization: Bearer ${token}`]);
  t.equal(ok, 200, 'with the token: allowed');
  t.equal(a.agent.healthcheckFailed, true);

  // The CLI, run inside the namespace, presents the token.
  const cli = await run('ip', ['netns', 'exec', ns, process.execPath, 'src/cli/index.ts', 'admin', 'post', '/healthcheck/ok', '--admin', `${hostIp}:${a.adminPort}`, '--token', token]);
  t.match(JSON.parse(cli.stdout), { healthcheck: 'ok' });
  t.equal(a.agent.healthcheckFailed, false);
});
