/**
 * The Redis store against a real redis-server (Debian package), started by
 * this test on a free loopback port and stopped at teardown. Skipped, with
 * the reason, when redis-server is not installed.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Verdict } from '../../../../src/core/filter.ts';
import { RateLimitFilter, type RateLimitRule } from '../../../../src/resilience/ratelimit/filter.ts';
import { RedisBuckets, redisClient } from '../../../../src/resilience/ratelimit/redis-store.ts';
import { ctx } from '../../balancer/fixtures.ts';

const have = spawnSync('redis-server', ['--version']).status === 0;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

t.test('rate limit shared through Redis', { skip: have ? false : 'redis-server is not installed (apt-get install redis-server)' }, async (t) => {
  const port = await freePort();
  const srv = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: 'ignore' });
  let exited = false;
  srv.once('exit', () => { exited = true; });
  t.teardown(() => { if (!exited) srv.kill('SIGKILL'); });
  for (let i = 0; i < 100 && !(await reachable(port)); i++) await sleep(50);
  t.ok(await reachable(port), 'redis-server is up');

  const url = `redis://127.0.0.1:${port}`;
  const a = redisClient(url, 500);
  const b = redisClient(url, 500);
  t.teardown(() => { a.disconnect(); b.disconnect(); });
  await Promise.all([once(a, 'ready'), once(b, 'ready')]);
  t.equal(await a.ping(), 'PONG');

  const rule: RateLimitRule = { name: 'global', perSource: false, ratePerSecond: 0.5, burst: 20 };
  const replica = (client: typeof a) => new RateLimitFilter({
    scope: 'api', rules: [rule],
    redis: (r) => new RedisBuckets(client, { ratePerSecond: r.ratePerSecond, burst: r.burst, keyPrefix: 'test:rl:api:global' }),
  });
  const r1 = replica(a);
  const r2 = replica(b);
  let allowed = 0;
  let refused: ReturnType<typeof ctx> | undefined;
  for (let i = 0; i < 200; i++) {
    const c = ctx();
    const f = i % 2 === 0 ? r1 : r2;
    t.equal(f.onRequest(c), Verdict.Continue);
    if ((await f.onRequestAsync(c)) === Verdict.Continue) allowed++; else refused = c;
  }
  t.equal(allowed, 20, 'two replicas share one bucket: exactly the burst passes');
  t.equal(refused!.error!.reason, 'rate_limited');
  t.equal(refused!.error!.headers!['retry-after'], '2', '0.5/s → the next token within 2 s');
  t.match(refused!.error!.headers!.ratelimit, /^"global";r=0;t=2$/);
  t.equal(r1.stats.allowed + r2.stats.allowed, 20);

  // Refill on Redis's clock: 50/s with a burst of 5.
  const fast = new RedisBuckets(a, { ratePerSecond: 50, burst: 5, keyPrefix: 'test:rl:fast' });
  // Pipelined on one connection, so the 20 takes land within a token interval.
  const burst = async () => (await Promise.all(Array.from({ length: 20 }, () => fast.take('k')))).filter((w) => w === 0).length;
  t.equal(await burst(), 5, 'burst');
  const wait = await fast.take('k');
  t.ok(wait > 0 && wait <= 20, `wait ${wait} ms ≤ one interval`);
  await sleep(250);
  t.equal(await burst(), 5, 'refilled, capped at the burst');
  t.ok((await a.pttl('test:rl:fast:k')) > 0, 'bucket keys expire');

  // Per-source keys are separate.
  const ps = new RedisBuckets(a, { ratePerSecond: 1, burst: 1, keyPrefix: 'test:rl:src' });
  t.equal(await ps.take('spiffe://mesh/sa/alice'), 0);
  t.equal(await ps.take('spiffe://mesh/sa/bob'), 0);
  t.ok((await ps.take('spiffe://mesh/sa/alice')) > 0);

  // Redis goes away: on_error 'local' keeps limiting with the local bucket.
  srv.kill('SIGKILL');
  await new Promise<void>((r) => (exited ? r() : srv.once('exit', () => r())));
  await sleep(50);
  let local = 0;
  for (let i = 0; i < 40; i++) {
    const c = ctx();
    if ((await r1.onRequestAsync(c)) === Verdict.Continue) local++;
  }
  t.equal(local, 20, 'local fallback bucket: burst 20');
  t.equal(r1.stats.redisErrors, 40);
});
