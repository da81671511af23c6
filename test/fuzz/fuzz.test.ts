/**
 * The fuzz targets in CI: replay the committed corpus (past crashers
 * included), then a short coverage-guided run per target with a fixed seed
 * (reproducible). `npm run fuzz` runs longer. A crash fails the test and
 * prints the input; nothing is written to the corpus from CI.
 */
import t from 'tap';
import { join } from 'node:path';
import { fuzz } from './engine.ts';
import { TARGETS } from './targets.ts';

const MS = Number(process.env.AIM_FUZZ_MS ?? 1500);

for (const target of TARGETS) {
  t.test(`fuzz ${target.name}`, async (t) => {
    const r = fuzz(target, { ms: MS, seed: 20261125, corpusDir: join(import.meta.dirname, 'corpus', target.name), saveCrashes: false });
    t.ok(r.execs > 50, `${r.execs} executions, corpus ${r.corpus}, ${r.features} coverage features, ${r.replayed} corpus files replayed`);
    t.ok(r.features > 0, 'coverage guidance sees the target');
    t.same(r.crashes.map((c) => `${c.error} <- ${c.input.toString('base64')}`), [], 'no crash');
  });
}
