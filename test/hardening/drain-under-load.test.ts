/**
 * SIGTERM under load, the agent as a real child process (the CLI): 16
 * keep-alive clients send requests back to back (each held 80 ms by the
 * app) when the signal lands. Zero requests fail across the drain: every
 * request the agent took in gets its complete 200, responses carry
 * `connection: close`, and new connections are refused once the listener
 * has closed. A request written onto a kept-alive connection that the agent
 * closed as idle at that instant is retried on a new connection, as HTTP
 * clients do for idempotent requests (RFC 9110 §9.2.2); such retries are
 * counted, not hidden.
 */
import t from 'tap';
import { startHttpUpstream } from '../support/upstreams.ts';
import { spawnCliAgent } from '../support/cli-agent.ts';
import { RawConnection, header } from '../support/raw-http1-client.ts';
import { sleep } from './harness.ts';

interface Tally { ok: number; failed: number; staleRetries: number; refused: number; closeHeaders: number; afterSignal: number; failures: string[] }

async function worker(port: number, stopAt: () => boolean, signalled: () => boolean, tally: Tally): Promise<void> {
  let c: RawConnection | undefined;
  let reused = false;
  for (let i = 0; !stopAt(); i++) {
    if (c === undefined || c.ended) {
      try { c = await RawConnection.open(port); reused = false; } catch { tally.refused++; return; }
    }
    const before = signalled();
    const conn: RawConnection = c;
    conn.write(`GET /w${i} HTTP/1.1\r\nHost: api\r\n\r\n`);
    try {
      const r = await conn.response(5000);
      if (r.status !== 200 || r.body.toString() !== 'done') { tally.failed++; tally.failures.push(`status ${r.status}`); }
      else tally.ok++;
      if (!before && signalled()) tally.afterSignal++;
      if (header(r, 'connection') === 'close') { tally.closeHeaders++; conn.destroy(); c = undefined; continue; }
      reused = true;
    } catch (err) {
      const nothing = conn.buffered.length === 0;
      conn.destroy();
      c = undefined;
      if (reused && nothing) { tally.staleRetries++; i--; continue; } // closed as idle just as we wrote: retry
      tally.failed++;
      tally.failures.push((err as Error).message);
    }
  }
  c?.destroy();
}

t.test('SIGTERM under load: zero failed requests across the drain', async (t) => {
  const app = await startHttpUpstream((_req, res) => { setTimeout(() => res.end('done'), 80); });
  t.teardown(() => app.close());
  const { child, port, exited, stderr } = await spawnCliAgent(t, app.port, 200);
  const tally: Tally = { ok: 0, failed: 0, staleRetries: 0, refused: 0, closeHeaders: 0, afterSignal: 0, failures: [] };
  let sent = false;
  const deadline = Date.now() + 8000;
  const workers = Array.from({ length: 16 }, () => worker(port, () => Date.now() > deadline, () => sent, tally));
  await sleep(700);
  const beforeSignal = tally.ok;
  child.kill('SIGTERM');
  sent = true;
  await Promise.all(workers);
  const code = await exited;
  t.ok(beforeSignal > 50, `load was running (${beforeSignal} requests before the signal)`);
  t.ok(tally.afterSignal > 0, `requests in flight at the signal completed (${tally.afterSignal})`);
  t.equal(tally.failed, 0, `no failed request (${tally.failures.slice(0, 3).join('; ')})`);
  t.ok(tally.closeHeaders > 0, 'responses during the drain said connection: close');
  t.ok(tally.refused > 0, 'new connections were refused after the listener closed');
  t.equal(code, 0, `the agent exited 0 ${stderr().slice(0, 500)}`);
  t.comment(`ok ${tally.ok}, stale-connection retries ${tally.staleRetries}, refused after drain ${tally.refused}`);
});
