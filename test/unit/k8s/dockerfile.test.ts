/**
 * The Dockerfile agrees with the package: entrypoint = package.json bin,
 * every copied path exists and is not ignored, the runtime user is PROXY_UID,
 * production dependencies only, and the runtime code imports nothing that
 * `npm ci --omit=dev` leaves out. (No Docker daemon here: the build itself is
 * not run.)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, normalize, relative } from 'node:path';
import t from 'tap';
import { PROXY_GID, PROXY_UID } from '../../../src/k8s/defaults.ts';
import { isCopiedAsset } from '../../../bin/build.ts';

const root = new URL('../../../', import.meta.url).pathname;
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> };

interface Instr { readonly op: string; readonly args: string }
interface Stage { readonly from: string; readonly name: string | undefined; readonly instrs: Instr[] }

/** Instructions with continuation lines joined; comments dropped. */
function parseDockerfile(text: string): { args: Instr[]; stages: Stage[] } {
  const joined = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const args: Instr[] = [];
  const stages: Stage[] = [];
  for (const line of joined) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!.replace(/\s+/g, ' ');
    if (op === 'FROM') {
      const [from, , name] = rest.split(' ');
      stages.push({ from: from!, name, instrs: [] });
    } else if (stages.length === 0) args.push({ op, args: rest });
    else stages.at(-1)!.instrs.push({ op, args: rest });
  }
  return { args, stages };
}

const docker = parseDockerfile(read('Dockerfile'));
const runtime = docker.stages.at(-1)!;
const all = (stage: Stage, op: string): string[] => stage.instrs.filter((i) => i.op === op).map((i) => i.args);
const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

/** Is a context path excluded by .dockerignore? (the patterns this repo uses: plain paths, **\/x, *.ext) */
function ignored(path: string): boolean {
  const segs = normalize(path).split('/');
  return ignore.some((pat) => {
    const re = new RegExp(`^${pat.replace(/[.+^${}()|[\]]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}$`);
    return segs.some((_, i) => re.test(segs.slice(0, i + 1).join('/')));
  });
}

t.test('a multi-stage build on a Node 24 slim base', async (t) => {
  const base = docker.args.find((a) => a.op === 'ARG' && a.args.startsWith('NODE_IMAGE='))?.args.split('=')[1];
  t.match(base, /^node:24(-[a-z]+)?-slim$/);
  t.ok(docker.stages.length >= 2, 'multi-stage');
  for (const s of docker.stages) t.equal(s.from, '${NODE_IMAGE}');
  t.equal(runtime.name, 'runtime');
});

t.test('runtime stage: production dependencies only, non-root PROXY_UID', async (t) => {
  const runs = all(runtime, 'RUN').join('\n');
  t.match(runs, /npm ci --omit=dev/);
  t.notMatch(runs, /npm (install|i) /);
  t.notMatch(runs, /npm ci(?! --omit=dev)/, 'every npm ci omits dev');
  t.match(runs, /npm cache clean/);
  t.match(runs, new RegExp(`groupadd --system --gid ${PROXY_GID} aim-mesh`));
  t.match(runs, new RegExp(`useradd --system --uid ${PROXY_UID} --gid ${PROXY_GID} `));
  t.same(all(runtime, 'USER'), [`${PROXY_UID}:${PROXY_GID}`], 'numeric user, so runAsNonRoot can verify it');
  t.match(runs, /apt-get install -y --no-install-recommends iptables/, 'redirect-traffic runs from this image');
  t.notMatch(runs, /\b(g\+\+|make|python3)\b/, 'no toolchain in the runtime image');
  t.ok(pkg.devDependencies.node !== undefined && pkg.dependencies.node === undefined, 'the node package is dev-only');
});

t.test('entrypoint is the package bin, and every copied path exists', async (t) => {
  const binPath = normalize(pkg.bin['aim-mesh']!);
  t.equal(binPath, 'bin/aim-mesh.js');
  t.same(all(runtime, 'ENTRYPOINT'), ['["aim-mesh"]']);
  const workdir = all(runtime, 'WORKDIR').at(-1)!;
  t.match(all(runtime, 'RUN').join('\n'), `ln -s ${workdir}/${binPath} /usr/local/bin/aim-mesh`);
  t.match(all(runtime, 'RUN').join('\n'), `chmod 0755 ${binPath}`);

  const copied: string[] = [];
  for (const stage of docker.stages) {
    for (const c of all(stage, 'COPY')) {
      if (c.startsWith('--from=')) continue;
      const parts = c.split(' ').filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        t.ok(existsSync(join(root, src)), `COPY source ${src} exists`);
        // git keeps no empty directory: a fresh clone must have something to copy.
        if (existsSync(join(root, src)) && statSync(join(root, src)).isDirectory()) t.ok(readdirSync(join(root, src)).length > 0, `${src}/ is not empty`);
        t.notOk(ignored(src), `COPY source ${src} is not in .dockerignore`);
        copied.push(src);
      }
    }
  }
  for (const need of ['package.json', 'package-lock.json', 'bin', 'src']) t.ok(copied.includes(need), `${need} is copied`);
  // The bin runs dist/ (built in the image) or falls back to src/.
  const targets = [...read(binPath).matchAll(/await import\('(.+)'\)/g)].map((m) => normalize(join('bin', m[1]!)));
  t.same(targets, ['dist/cli/index.js', 'src/cli/index.ts'], 'bin imports the built entry, else the source one');
  t.ok(existsSync(join(root, 'src/cli/index.ts')), 'the source entry exists');
  const build = docker.stages.find((s) => s.name === 'build');
  t.ok(build, 'a build stage');
  t.match(all(build!, 'RUN').join('\n'), /node .*bin\/build\.ts/, 'the build stage runs bin/build.ts');
  for (const need of ['package.json', 'bin', 'src']) t.ok(all(build!, 'COPY').some((c) => c.startsWith(`${need} `)), `the build stage copies ${need}`);
  t.ok(all(runtime, 'COPY').includes('--from=build /build/dist ./dist'), 'the runtime copies dist/ from the build stage');
  t.notOk(all(runtime, 'COPY').some((c) => /^src /.test(c)), 'the runtime ships no src/: bin/aim-mesh.js always runs dist/');
  t.ok(ignored('dist'), 'a host dist/ stays out of the context');
  for (const secret of ['certs', 'node_modules', 'test', '.git', 'src/transparent/native/build']) t.ok(ignored(secret), `${secret} is ignored`);
  t.notOk(ignored('src/k8s/defaults.ts'));
});

t.test('the native addon lands where original-dst.ts loads it', async (t) => {
  // Into src/ in the build stage; bin/build.ts copies build/Release/*.node to the same place in dist/.
  const build = docker.stages.find((s) => s.name === 'build')!;
  const copy = all(build, 'COPY').find((c) => c.startsWith('--from=native'));
  const dest = copy?.split(' ').at(-1);
  t.equal(dest, './src/transparent/native/build/Release/origdst.node');
  t.ok(build.instrs.findIndex((i) => i.op === 'COPY' && i.args === copy) < build.instrs.findIndex((i) => i.op === 'RUN'), 'copied before the build runs');
  t.ok(isCopiedAsset('transparent/native/build/Release/origdst.node'), 'the build copies the addon to dist/');
  t.notOk(isCopiedAsset('transparent/native/build/Makefile'), 'but not the intermediate build files');
  const src = read('src/transparent/original-dst.ts');
  t.match(src, `new URL('./native/build/Release/origdst.node', import.meta.url)`);
  t.ok(existsSync(join(root, 'src/transparent/native/binding.gyp')));
});

t.test('HEALTHCHECK asks /ready with node (no curl in slim images)', async (t) => {
  const hc = all(runtime, 'HEALTHCHECK')[0]!;
  t.match(hc, /CMD \["node", "-e", /);
  t.notMatch(hc, /curl|wget/);
  t.match(all(runtime, 'ENV').join('\n'), /AIM_MESH_HEALTH_URL=http:\/\/127\.0\.0\.1:19000\/ready/);
});

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(ts|js|mjs)$/.test(e)) yield p;
  }
}

t.test('runtime code imports only production dependencies', async (t) => {
  const builtins = new Set(builtinModules);
  const runtimeImport = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  const bad: string[] = [];
  let count = 0;
  for (const dir of ['src', 'bin']) {
    for (const f of files(join(root, dir))) {
      if (f.includes('/native/build/')) continue;
      for (const m of read(relative(root, f)).matchAll(runtimeImport)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        count++;
        if (pkg.dependencies[name] === undefined) bad.push(`${relative(root, f)}: ${spec}`);
      }
    }
  }
  t.ok(count > 0, 'found package imports to check');
  t.same(bad, [], 'every runtime import is in dependencies');
});
