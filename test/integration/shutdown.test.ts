/**
 * Issue 2, test 7: SIGTERM while a slow request is in flight: it completes,
 * new connections are refused, and the process exits 0. The agent runs as a
 * real child process (the CLI), so signals are real.
 */
import t from 'tap';
import { connect } from 'node:net';
import { request } from 'undici';
import { startHttpUpstream } from '../support/upstreams.ts';
import { spawnCliAgent } from '../support/cli-agent.ts';

t.test('SIGTERM drains in-flight requests and refuses new connections', async (t) => {
  const app = await startHttpUpstream((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), 1500);
    else res.end('fast');
  });
  t.teardown(() => app.close());
  // A single agent whose upstream is the app directly (plaintext): the drain logic is the same.
  const { child, port, exited, stderr } = await spawnCliAgent(t, app.port, 100);
  const slow = request(`http://127.0.0.1:${port}/slow`);
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  const refused = await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve('connected'); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  t.equal(refused, 'ECONNREFUSED', 'new connections are refused while draining');
  const r = await slow;
  t.equal(r.statusCode, 200);
  t.equal(await r.body.text(), 'slow done', 'the in-flight request completed');
  t.equal(await exited, 0, `exit code 0 ${stderr()}`);
});
