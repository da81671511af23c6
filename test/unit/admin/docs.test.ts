/**
 * The generated documentation matches its sources: the admin README table
 * and the route table, the metrics README and the catalogue; the index page
 * and `aim-mesh admin --help` list every route.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { adminRoutes } from '../../../src/admin/routes.ts';
import { adminIndex } from '../../../src/admin/docs.ts';
import { fillBlocks, generatedDocs } from '../../../src/admin/readme.ts';
import { metricsCatalog } from '../../../src/telemetry/metrics-catalog.ts';

t.test('README blocks are exactly what the tables generate (run `node src/admin/readme.ts` to refresh)', async (t) => {
  for (const d of generatedDocs()) {
    const text = readFileSync(d.file, 'utf8');
    t.equal(text, fillBlocks(text, d.blocks), `${d.file} is up to date`);
  }
  const admin = readFileSync(generatedDocs()[0]!.file, 'utf8');
  for (const r of adminRoutes) t.match(admin, `\`${r.path}`, `README lists ${r.path}`);
  const metrics = readFileSync(generatedDocs()[1]!.file, 'utf8');
  for (const m of metricsCatalog) t.match(metrics, `\`${m.name}\``, `README lists ${m.name}`);
});

t.test('the table is well formed', async (t) => {
  const paths = adminRoutes.map((r) => r.path);
  t.equal(new Set(paths).size, paths.length, 'no duplicate paths');
  for (const r of adminRoutes) {
    t.equal(r.mutates, r.method === 'POST', `${r.path}: mutating exactly when POST`);
    t.ok(r.help.length > 10, `${r.path} has help`);
  }
});

t.test('index page and CLI help are generated from the table', async (t) => {
  const index = adminIndex(adminRoutes);
  const cli = spawnSync(process.execPath, ['src/cli/index.ts', 'admin', '--help'], { encoding: 'utf8' });
  t.equal(cli.status, 0);
  for (const r of adminRoutes) {
    const line = new RegExp(`${r.method} +${r.path.replace(/[/]/g, '\\/')} +${r.help.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
    t.match(index, line, `index: ${r.path}`);
    t.match(cli.stdout, line, `--help: ${r.path}`);
  }
  const top = spawnSync(process.execPath, ['src/cli/index.ts', '--help'], { encoding: 'utf8' });
  t.match(top.stdout, /admin +Call a running agent/);
});
