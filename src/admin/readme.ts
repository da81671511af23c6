/**
 * The generated parts of src/admin/README-admin.md and
 * src/telemetry/README-metrics.md: each sits between
 * `<!-- BEGIN GENERATED: name -->` and `<!-- END GENERATED: name -->`.
 * `node src/admin/readme.ts` rewrites them; a test fails when they drift.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { adminRoutesMarkdown } from './docs.ts';
import { adminRoutes } from './routes.ts';
import { labelsMarkdown, metricsMarkdown } from '../telemetry/metrics-docs.ts';

export interface GeneratedDoc {
  readonly file: string;
  readonly blocks: Readonly<Record<string, string>>;
}

export function generatedDocs(): GeneratedDoc[] {
  return [
    { file: fileURLToPath(new URL('./README-admin.md', import.meta.url)), blocks: { 'admin routes': adminRoutesMarkdown(adminRoutes) } },
    { file: fileURLToPath(new URL('../telemetry/README-metrics.md', import.meta.url)), blocks: { metrics: metricsMarkdown(), labels: labelsMarkdown() } },
  ];
}

/** `text` with each named block's content replaced; throws when a marker is missing. */
export function fillBlocks(text: string, blocks: Readonly<Record<string, string>>): string {
  let out = text;
  for (const [name, content] of Object.entries(blocks)) {
    const begin = `<!-- BEGIN GENERATED: ${name} -->`;
    const end = `<!-- END GENERATED: ${name} -->`;
    const i = out.indexOf(begin);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`missing markers for generated block "${name}"`);
    out = `${out.slice(0, i + begin.length)}\n${content}\n${out.slice(j)}`;
  }
  return out;
}

if (import.meta.main) {
  for (const d of generatedDocs()) {
    const before = readFileSync(d.file, 'utf8');
    const after = fillBlocks(before, d.blocks);
    if (after !== before) { writeFileSync(d.file, after); process.stdout.write(`updated ${d.file}\n`); }
    else process.stdout.write(`up to date ${d.file}\n`);
  }
}
