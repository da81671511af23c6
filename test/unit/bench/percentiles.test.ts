import t from 'tap';
import { median, percentile, summarize } from '../../../bench/lib/percentiles.ts';

t.test('nearest-rank percentiles', async (t) => {
  const xs = Float64Array.from({ length: 1000 }, (_, i) => i + 1); // 1..1000
  t.equal(percentile(xs, 50), 500);
  t.equal(percentile(xs, 90), 900);
  t.equal(percentile(xs, 99), 990);
  t.equal(percentile(xs, 99.9), 999);
  t.equal(percentile(xs, 100), 1000);
  t.equal(percentile(xs, 0), 1);
  t.equal(percentile([7], 99.9), 7);
  t.ok(Number.isNaN(percentile([], 50)));
  t.throws(() => percentile(xs, 101), RangeError);
});

t.test('small samples: the tail percentile is the maximum, never interpolated below a real sample', async (t) => {
  const xs = [1, 2, 3, 4, 100];
  t.equal(percentile(xs, 50), 3);
  t.equal(percentile(xs, 90), 100);
  t.equal(percentile(xs, 99), 100);
});

t.test('summarize sorts in place and reports every percentile', async (t) => {
  const s = summarize(Float64Array.from([5, 1, 4, 2, 3]));
  t.same(s, { count: 5, min: 1, mean: 3, p50: 3, p90: 5, p99: 5, p999: 5, max: 5 });
  const empty = summarize(new Float64Array(0));
  t.equal(empty.count, 0);
  t.ok(Number.isNaN(empty.p50));
});

t.test('median of runs ignores missing and non-finite values', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.equal(median([5, undefined, null, Number.NaN, 1]), 3);
  t.ok(Number.isNaN(median([undefined])));
});
