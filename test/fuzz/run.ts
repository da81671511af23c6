/**
 * `npm run fuzz` — run the coverage-guided fuzz targets for longer than CI
 * does. Crashers are written to test/fuzz/corpus/<target>/crash-<sha1>
 * (commit them: every later run replays them), the exit code is 1 when any
 * target crashed.
 *
 *   node test/fuzz/run.ts [--target NAME|all] [--seconds 60] [--seed N] [--save-coverage]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fuzz } from './engine.ts';
import { TARGETS } from './targets.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string', default: String(Date.now() & 0x7fffffff) },
    'save-coverage': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const seed = Number(values.seed);
const chosen = values.target === 'all' ? TARGETS : TARGETS.filter((t) => t.name === values.target);
if (chosen.length === 0) {
  console.error(`unknown target ${values.target}; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}
let crashed = 0;
for (const t of chosen) {
  console.log(`== ${t.name}: ${seconds}s, seed ${seed}`);
  const r = fuzz(t, {
    ms: seconds * 1000, seed, corpusDir: join(import.meta.dirname, 'corpus', t.name), saveCrashes: true, saveCoverage: values['save-coverage'],
    onProgress: (p) => process.stdout.write(`\r   execs ${p.execs}  corpus ${p.corpus}  features ${p.features}   `),
  });
  process.stdout.write('\n');
  console.log(`   ${r.execs} execs (${Math.round(r.execs / seconds)}/s), corpus ${r.corpus}, features ${r.features}, replayed ${r.replayed}, crashes ${r.crashes.length}`);
  for (const c of r.crashes.slice(0, 10)) console.log(`   CRASH ${c.error}\n     input (base64) ${c.input.toString('base64')}${c.file ? `\n     saved ${c.file}` : ''}`);
  crashed += r.crashes.length;
}
process.exit(crashed > 0 ? 1 : 0);
