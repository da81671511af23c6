/**
 * `npm run build`: src/ → dist/, the same code as plain JavaScript, so the published
 * entry point (bin/aim-mesh.js) runs without Node's in-process type stripper
 * (amaro/swc as WebAssembly, with a 3.6 MB source string: ~24 MB RSS per agent).
 *
 * Each `.ts` file goes through Node's own `module.stripTypeScriptTypes` in 'strip'
 * mode, the transform Node applies when it runs the `.ts` file itself: types
 * become whitespace, so every line and column of dist/x.js is the line and column
 * of src/x.ts (stack traces read against the sources; no source map). Relative
 * `.ts` specifiers in string literals then become `.js`, same length. That covers
 * static imports, re-exports, `import('./x.ts')` and `new URL('./x.ts', …)`, and
 * is right for any other relative `.ts` literal too, since in dist/ every sibling
 * source is `.js`. A specifier the rewrite cannot see (a computed or template
 * `import()`) fails the build instead of failing at run time.
 *
 * Other files under src/ (proto files, dashboard assets, READMEs, the native
 * addon's build/Release/*.node) are copied. dist/build-info.json records when the
 * build started; bin/aim-mesh.js runs dist/ only while no file under src/ is newer.
 *
 * The build goes to a temporary directory beside dist/ and replaces dist/ at the end.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';

/** A relative `.ts`/`.mts`/`.cts` path in a '…' or "…" literal: `'./x.ts'`, `"../a/b.ts"`. */
const RELATIVE_TS = /(['"])(\.\.?\/[^'"\n\\]*?\.)([mc]?)ts\1/g;
/** `import(` whose argument is not a plain string literal: the rewrite cannot reach it. */
const DYNAMIC_IMPORT = /\bimport\(\s*(?!['"])/g;

export function rewriteSpecifiers(js: string): string {
  return js.replace(RELATIVE_TS, (_m, q: string, stem: string, mc: string) => `${q}${stem}${mc}js${q}`);
}

/** Lines of `js` with an `import(` the rewrite cannot see (comments included: move them or quote the path). */
export function unreachableImports(js: string): number[] {
  const lines: number[] = [];
  for (const m of js.matchAll(DYNAMIC_IMPORT)) lines.push(js.slice(0, m.index).split('\n').length);
  return lines;
}

/** Non-TS files to copy (path relative to src/): everything but the native addon's intermediate build output. */
export function isCopiedAsset(rel: string): boolean {
  if (!rel.includes('/native/build/')) return true;
  return /\/native\/build\/Release\/[^/]+\.node$/.test(rel);
}

/** Build `srcDir` into `outDir` (replaced at the end; a failed build leaves it untouched). */
export function buildDist(srcDir: string, outDir: string): { files: number; copied: number } {
  const builtAt = Date.now();
  const tmp = join(dirname(outDir), `.${basename(outDir)}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  let files = 0;
  let assets = 0;
  const errors: string[] = [];
  for (const e of readdirSync(srcDir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const rel = relative(srcDir, path);
    if (/\.d\.[mc]?ts$/.test(rel)) continue;
    const ts = /\.([mc]?)ts$/.exec(rel);
    if (ts === null) {
      if (!isCopiedAsset(rel)) continue;
      mkdirSync(dirname(join(tmp, rel)), { recursive: true });
      copyFileSync(path, join(tmp, rel));
      assets++;
      continue;
    }
    let js: string;
    try {
      js = rewriteSpecifiers(stripTypeScriptTypes(readFileSync(path, 'utf8'), { mode: 'strip' }));
    } catch (err) {
      errors.push(`${rel}: ${(err as Error).message}`);
      continue;
    }
    for (const line of unreachableImports(js)) errors.push(`${rel}:${line}: import() of a computed specifier; the build cannot rewrite it to .js`);
    const out = join(tmp, `${rel.slice(0, -ts[0].length)}.${ts[1]}js`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, js);
    files++;
  }
  if (errors.length > 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`build failed:\n  ${errors.join('\n  ')}`);
  }
  writeFileSync(join(tmp, 'build-info.json'), `${JSON.stringify({ builtAt, node: process.version, files }, null, 2)}\n`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);
  return { files, copied: assets };
}

if (import.meta.main) {
  const t0 = performance.now();
  const root = new URL('../', import.meta.url).pathname;
  const r = buildDist(join(root, 'src'), join(root, 'dist'));
  process.stdout.write(`dist/: ${r.files} modules stripped, ${r.copied} files copied in ${Math.round(performance.now() - t0)} ms\n`);
}
