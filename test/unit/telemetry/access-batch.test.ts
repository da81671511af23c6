/**
 * The access log's batched logger (telemetry/log.ts): lines are held in memory and reach
 * the root logger's destination in batches (8 KB, every second, or flushLogger at the
 * agent's stop), through the same destination, so every line arrives whole and in order.
 */
import t from 'tap';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessLogger, closeLogger, createLogger, flushLogger } from '../../../src/telemetry/log.ts';

async function until(pred: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (pred()) return true; await new Promise((r) => setTimeout(r, 10)); }
  return pred();
}

t.test('access lines are batched, flushed on demand, whole, and share the fd with the root logger', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'aim-access-')), 'log');
  const fd = openSync(file, 'w');
  t.teardown(() => closeSync(fd));
  const log = createLogger({ level: 'info', fd }, { service: 'api' });
  const access = accessLogger(log);
  t.not(access, log);
  const lines = (): Array<Record<string, unknown>> => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

  access.info({ access: true, n: 1 }, 'access');
  log.info('root line');
  t.ok(await until(() => lines().some((l) => l['msg'] === 'root line')), 'root lines are written at once');
  t.notOk(lines().some((l) => l['access']), 'a single access line waits in the batch');

  flushLogger(access);
  t.ok(await until(() => lines().some((l) => l['access'] === true)), 'flushLogger hands it over');
  const first = lines().find((l) => l['access'] === true)!;
  t.match(first, { level: 'info', service: 'api', component: 'access', n: 1 });

  // Past 8 KB a batch goes out by itself.
  for (let i = 0; i < 200; i++) access.info({ access: true, n: i + 2, pad: 'x'.repeat(40) }, 'access');
  t.ok(await until(() => lines().filter((l) => l['access']).length > 100), 'a full batch is written without a flush');
  flushLogger(access);
  t.ok(await until(() => lines().filter((l) => l['access']).length === 201), 'all 201 lines, each whole JSON');
  const ns = lines().filter((l) => l['access']).map((l) => l['n']);
  t.same(ns, Array.from({ length: 201 }, (_, i) => i + 1), 'in order');

  // A quiet agent still writes its lines within about a second.
  access.info({ access: true, n: 'late' }, 'access');
  const t0 = Date.now();
  t.ok(await until(() => lines().some((l) => l['n'] === 'late'), 2500), 'the periodic flush writes a lone line');
  t.ok(Date.now() - t0 <= 2000, 'within the flush period');

  // Closed (the agent stopped): what is pending goes out, and a later line is written at once.
  access.info({ access: true, n: 'pending' }, 'access');
  closeLogger(access);
  t.ok(await until(() => lines().some((l) => l['n'] === 'pending'), 300), 'closing flushes (the periodic flush is ~1 s away)');
  access.info({ access: true, n: 'after-close' }, 'access');
  t.ok(await until(() => lines().some((l) => l['n'] === 'after-close'), 300), 'a line after close is not held');
});

t.test('without a root logger from createLogger, the access logger is a plain child', async (t) => {
  const { silentLogger } = await import('../../../src/telemetry/log.ts');
  const a = accessLogger(silentLogger);
  t.equal(Object.getPrototypeOf(a), silentLogger, 'a pino child of the given logger');
  flushLogger(a); // no-op
});
