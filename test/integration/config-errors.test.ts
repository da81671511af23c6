/**
 * Issue 2, test 9: config errors name the file, the key path, the value and
 * what was expected — for check-config and for the agent, which exits
 * non-zero before binding any port.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/ports.ts';
import { createServer } from 'node:net';

const cli = (args: string[]) => spawnSync(process.execPath, ['src/cli/index.ts', ...args], { encoding: 'utf8', timeout: 20_000 });

t.test('check-config prints every error with file, line, key path, value and expectation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aim-cfg-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, [
    'service:',
    '  name: web',
    '  address: "localhost"',
    'upstreams:',
    '  - name: api',
    '    listen: 127.0.0.1:9191',
    '    protocl: http',
    'drain_timeout: soon',
    'limits:',
    '  max_headers: -3',
    '',
  ].join('\n'));
  const r = cli(['check-config', file]);
  t.equal(r.status, 2, 'exit 2');
  t.match(r.stderr, `${file}:3: service.address: expected HOST:PORT`);
  t.match(r.stderr, '(found "localhost")');
  t.match(r.stderr, `${file}:7: upstreams[0].protocl: unknown key`);
  t.match(r.stderr, `${file}:8: drain_timeout: expected a duration`);
  t.match(r.stderr, '(found "soon")');
  t.match(r.stderr, /limits\.max_headers: Too small: expected number to be >=1 \(found -3\)/);
  t.match(r.stderr, '4 problems');
});

t.test('check-config accepts the shipped example', async (t) => {
  const r = cli(['check-config', 'config/agent.yaml']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, 'ok');
});

t.test('the agent refuses a bad config before binding any port', async (t) => {
  const port = await freePort();
  const r = cli(['agent', '--service', 'web', '--service-addr', 'nope', '--listen', `127.0.0.1:${port}`, '--no-mtls']);
  t.equal(r.status, 2);
  t.match(r.stderr, 'flags: service.address: expected HOST:PORT');
  // The port is still free: nothing was bound.
  const free = await new Promise<boolean>((res) => { const s = createServer(); s.once('error', () => res(false)); s.listen(port, '127.0.0.1', () => s.close(() => res(true))); });
  t.ok(free, 'no port was bound');
});

t.test('every command answers --help', async (t) => {
  const top = cli(['--help']);
  t.equal(top.status, 0);
  const names = [...top.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
  t.ok(names.includes('agent') && names.includes('check-config') && names.includes('demo'));
  for (const n of names) {
    const r = cli([n, '--help']);
    t.equal(r.status, 0, `${n} --help exits 0`);
    t.match(r.stdout, /Usage: aim-mesh/, `${n} --help prints usage`);
  }
});
