/**
 * `npm run build` (bin/build.ts) and the entry point's choice between dist/ and src/
 * (bin/aim-mesh.js). The build is run for real on src/ into a temporary directory:
 * every module comes out line-for-line, no relative `.ts` specifier survives, and the
 * built CLI runs without Node's type stripper in the process.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import { buildDist, isCopiedAsset, rewriteSpecifiers, unreachableImports } from '../../../bin/build.ts';

const root = new URL('../../../', import.meta.url).pathname;

t.test('relative .ts specifiers become .js, same length, nothing else changes', async (t) => {
  const src = [
    `import { a } from './a.ts';`,
    `export * from "../b/c.ts";`,
    `import type {} from 'pkg.ts';`,
    `const m = await import('./lazy.ts');`,
    `const u = new URL('./worker.mts', import.meta.url);`,
    `const s = 'src/cli/index.ts';`,
    `// see \`./doc.ts\``,
  ].join('\n');
  const out = rewriteSpecifiers(src);
  t.equal(out.length, src.length);
  t.same(out.split('\n'), [
    `import { a } from './a.js';`,
    `export * from "../b/c.js";`,
    `import type {} from 'pkg.ts';`,
    `const m = await import('./lazy.js');`,
    `const u = new URL('./worker.mjs', import.meta.url);`,
    `const s = 'src/cli/index.ts';`,
    `// see \`./doc.ts\``,
  ]);
  t.same(unreachableImports(`a\nconst m = await import(name);\nimport('./x.js');\nimport(\`./\${n}.ts\`)`), [2, 4]);
  t.ok(isCopiedAsset('proto/mesh.proto'));
  t.ok(isCopiedAsset('transparent/native/build/Release/origdst.node'));
  t.notOk(isCopiedAsset('transparent/native/build/Release/obj.target/origdst/origdst.o'));
});

t.test('src/ builds line-for-line, and the built CLI runs without the type stripper', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aim-build-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const r = buildDist(join(root, 'src'), join(dir, 'dist'));
  const sources = readdirSync(join(root, 'src'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
  t.equal(r.files, sources.length, 'one module per source file');
  for (const f of sources) {
    const a = readFileSync(join(root, 'src', f), 'utf8');
    const b = readFileSync(join(dir, 'dist', f.replace(/\.ts$/, '.js')), 'utf8');
    if (a.split('\n').length !== b.split('\n').length) t.fail(`${f}: line count differs`);
    if (/(['"])\.\.?\/[^'"\n]*\.ts\1/.test(b)) t.fail(`${f}: a relative .ts specifier is left`);
  }
  t.ok(JSON.parse(readFileSync(join(dir, 'dist/build-info.json'), 'utf8')).builtAt > 0);
  // Load the whole agent command and its lazily loaded parts, as a worker would.
  const probe = `await import('./dist/cli/commands/agent.js'); await import('./dist/agent/run.js'); await import('./dist/agent/identity.js');
    console.log(JSON.stringify(process.moduleLoadList.filter((m) => /amaro/.test(m))));`;
  const p = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: dir, encoding: 'utf8' });
  t.equal(p.status, 0, p.stderr);
  t.same(JSON.parse(p.stdout), [], 'the type stripper (amaro) is not loaded');
  const help = spawnSync(process.execPath, [join(dir, 'dist/cli/index.js'), 'agent', '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0, help.stderr);
  t.match(help.stdout, /^Usage: aim-mesh agent/);
});

t.test('bin/aim-mesh.js runs dist/ while it is current, else src/', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aim-bin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const put = (p: string, text: string): void => { mkdirSync(join(dir, p, '..'), { recursive: true }); writeFileSync(join(dir, p), text); };
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  put('bin/aim-mesh.js', readFileSync(join(root, 'bin/aim-mesh.js'), 'utf8'));
  put('dist/cli/index.js', `console.log('dist');\n`);
  put('src/cli/index.ts', `const from: string = 'src';\nconsole.log(from);\n`);
  put('src/proto/mesh.proto', 'syntax = "proto3";\n');
  const run = (): string => spawnSync(process.execPath, [join(dir, 'bin/aim-mesh.js')], { encoding: 'utf8' }).stdout.trim();
  const past = new Date(Date.now() - 3_600_000);
  const setSrcTimes = (d: Date): void => {
    for (const f of readdirSync(join(dir, 'src'), { recursive: true }).map(String)) utimesSync(join(dir, 'src', f), d, d);
  };
  setSrcTimes(past);
  t.equal(run(), 'src', 'no build-info.json: src/');
  put('dist/build-info.json', JSON.stringify({ builtAt: Date.now() }));
  t.equal(run(), 'dist', 'built after every source file: dist/');
  const future = new Date(Date.now() + 60_000);
  utimesSync(join(dir, 'src/proto/mesh.proto'), future, future);
  t.equal(run(), 'src', 'any file under src/ edited since the build: src/');
  utimesSync(join(dir, 'src/proto/mesh.proto'), past, past);
  t.equal(run(), 'dist', 'current again');
  const { renameSync } = await import('node:fs');
  renameSync(join(dir, 'src/proto/mesh.proto'), join(dir, 'src/proto/renamed.proto'));
  t.equal(run(), 'src', 'a file renamed (its mtime kept) changes its directory: src/');
  rmSync(join(dir, 'src'), { recursive: true });
  t.equal(run(), 'dist', 'dist/ without src/ (the image): dist/');
  t.ok(relative(root, dir).startsWith('..'), 'the test never touches the checkout');
});
