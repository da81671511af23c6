/**
 * `aim-mesh demo --transparent --duration 8` as a user runs it (a child process of the
 * CLI): it creates two network namespaces, captures a client's calls to a plain address
 * and carries them over mTLS, prints what it sees, exits 0 by itself and leaves no
 * `aim-demo-*` namespace behind. Skips, saying why, where the machine does not allow it
 * (the same check the command makes before exiting 2).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { demoPrerequisite } from '../../src/demo/transparent.ts';

const sh = promisify(execFile);
const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const namespaces = async (): Promise<string[]> => (await sh('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('aim-demo-'));

t.test('demo --transparent: captured requests succeed over mTLS; it cleans up after itself', { skip: demoPrerequisite() }, async (t) => {
  const before = await namespaces();
  const r = await sh(process.execPath, [CLI, 'demo', '--transparent', '--duration', '8'], { timeout: 90_000 }).catch((e: { code: number; stdout: string; stderr: string }) => e);
  const output = `${r.stdout}${r.stderr}`;
  t.equal('code' in r ? r.code : 0, 0, 'exits 0 after --duration');
  for (let i = 1; i <= 6; i++) t.match(output, new RegExp(`^\\[${i}/6\\] `, 'm'), `start-up step ${i} is shown`);
  const status = output.split('\n').filter((l) => /^\[ *\d+s\] client:/.test(l));
  t.ok(status.length >= 2, `a running line every few seconds (${status.length})`);
  const last = status.at(-1) ?? '';
  const m = /client: (\d+) sent, (\d+) ok(.*?) \| connections captured in A: mesh (\d+)/.exec(last);
  t.ok(m, `the last line has the counts: ${last}`);
  if (m) {
    t.ok(Number(m[2]) >= 5, `the client's requests succeeded (${m[2]} ok of ${m[1]})`);
    t.equal(m[3], '', 'none failed');
    t.ok(Number(m[4]) >= Number(m[2]), 'each was captured in A (one connection per request)');
  }
  t.match(last, /api's agent in B, over mTLS: \d+ from spiffe:\/\/aim\.local\/.*\/web$/m, "B's agent verified the caller's SPIFFE identity");
  t.match(output, /stopped; nothing left behind/);
  t.same(await namespaces(), before, 'no aim-demo-* namespace is left');
});

t.test('demo --duration without --transparent is a usage error', async (t) => {
  const r = await sh(process.execPath, [CLI, 'demo', '--duration', '3']).catch((e: { code: number; stderr: string }) => e);
  t.equal('code' in r ? r.code : 0, 2);
  t.match(r.stderr, /--duration goes with --transparent/);
});
