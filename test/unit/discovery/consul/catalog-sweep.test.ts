/**
 * Sweeps of the catalog watch (catalog-sweep.ts): at most `concurrency` reads
 * in flight, triggers during a sweep coalesce into one more sweep, and a
 * sweep with a failed read is followed by another after the backoff.
 */
import t from 'tap';
import { Sweeper } from '../../../../src/discovery/consul/catalog-sweep.ts';
import { Backoff } from '../../../../src/control/backoff.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

function harness(items: string[], o: { concurrency?: number; fail?: (item: string, sweep: number) => boolean } = {}) {
  const ac = new AbortController();
  let inFlight = 0;
  let peak = 0;
  const reads: string[] = [];
  const release: Array<() => void> = [];
  const s: Sweeper<string> = new Sweeper<string>({
    items: () => [...items],
    read: async (item) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      reads.push(item);
      await new Promise<void>((r) => release.push(r));
      inFlight--;
      if (o.fail?.(item, s.sweeps)) throw new Error(`read ${item} failed`);
    },
    concurrency: o.concurrency ?? 2,
    minIntervalMs: 1,
    backoff: new Backoff({ initialMs: 2, maxMs: 4 }, () => 0),
    signal: ac.signal,
  });
  const drain = async () => { for (let i = 0; i < 200 && (s.running || release.length > 0); i++) { for (const r of release.splice(0)) r(); await tick(1); } };
  return { s, ac, reads, release, drain, peak: () => peak };
}

t.test('bounded concurrency: never more than `concurrency` reads at once, every item read once', async (t) => {
  const h = harness(['a', 'b', 'c', 'd', 'e'], { concurrency: 2 });
  h.s.trigger();
  await tick();
  t.equal(h.release.length, 2, 'two reads in flight');
  await h.drain();
  t.same(h.reads.sort(), ['a', 'b', 'c', 'd', 'e']);
  t.equal(h.peak(), 2);
  t.equal(h.s.sweeps, 1);
});

t.test('triggers during a sweep coalesce into one more sweep', async (t) => {
  const h = harness(['a', 'b'], { concurrency: 1 });
  h.s.trigger();
  await tick();
  for (let i = 0; i < 10; i++) h.s.trigger();
  await h.drain();
  t.equal(h.s.sweeps, 2, 'ten triggers while running: one more sweep');
  t.equal(h.reads.length, 4);
});

t.test('a failed read: the sweep runs again after the backoff; nothing to read: no sweep', async (t) => {
  const h = harness(['a', 'b'], { fail: (item, sweep) => item === 'b' && sweep === 1 });
  h.s.trigger();
  await h.drain();
  t.equal(h.s.sweeps, 2, 'the failure brought one more sweep');
  t.same(h.reads, ['a', 'b', 'a', 'b']);
  const none = harness([]);
  none.s.trigger();
  await none.drain();
  t.equal(none.s.sweeps, 0);
  t.throws(() => new Sweeper({ items: () => [], read: async () => {}, concurrency: 0, minIntervalMs: 1, backoff: new Backoff({ initialMs: 1, maxMs: 1 }), signal: new AbortController().signal }), RangeError);
});
