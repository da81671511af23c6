#!/usr/bin/env node
/**
 * `npm run bench`: the aim-mesh agent pair against an HAProxy pair, an nginx
 * pair and direct, measured in the same run on this machine (issue 11).
 *
 * Order of work: install missing peers from Debian (telling the user), make
 * run-time mTLS certificates, start the shared backends (nginx for HTTP/1, a
 * Node gRPC peer for grpc) and warm up each load generator, then for each run:
 * each target build in turn (start, smoke-check, measure every scenario of its
 * kind it takes part in, stop), and for an interleaved scenario (layers: the
 * agent variants one layer apart) all its targets side by side, measured in
 * turns. Headline figures are medians over runs; ratios to direct and to the
 * HAProxy pair, and per-layer differences, are taken within each run.
 * Writes bench/results/latest.{json,md,svg}.
 * Every process is tracked and stopped by PID (lib/procs.ts); loopback only.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, USAGE } from './lib/args.ts';
import { buildDist } from './lib/build.ts';
import { makeCerts } from './lib/certs.ts';
import { ensureTools, toolVersions } from './lib/install.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { openLoopClient, runOpenLoop } from './lib/openloop.ts';
import { GrpcLoadClient, runGrpcOpenLoop } from './lib/grpc-openloop.ts';
import { layerCosts } from './lib/layers.ts';
import { figuresFor, metricsByRun, pairSlices, printSummary } from './lib/summary.ts';
import { measureInterleaved, plannedInterleavedSec } from './lib/interleave.ts';
import { measureCell, phasesFor, plannedCellSec, smokeCheck } from './lib/measure.ts';
import { metricDefs } from './lib/metrics.ts';
import { ProcessGroup } from './lib/procs.ts';
import { fmtDuration, Progress } from './lib/progress.ts';
import { writeReport, type RawCell, type Report, type TargetInfo } from './lib/report.ts';
import { loadScenarios, runsIn, type Scenario } from './lib/scenario.ts';
import { startBackend, type RunningBackend } from './targets/backend.ts';
import { startGrpcBackend } from './targets/grpc-backend.ts';
import { LAYER_TOGGLES, LAYERS_SCENARIO } from './targets/aim-mesh-layers.ts';
import { pickTargets } from './targets/index.ts';
import type { RunningTarget, TargetDef } from './targets/types.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** Planned seconds to start, smoke-check and stop one target (for the ETA). */
const START_SEC = 1.5;
/** Seconds of generator warm-up before the first measured phase. */
const WARM_SEC = 2;
const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** One target build and the scenarios it runs; `key` = kind:name (a name may have an http1 and a grpc build). */
interface Job {
  readonly t: TargetDef;
  readonly kind: Scenario['kind'];
  readonly key: string;
  readonly scenarios: readonly Scenario[];
}

/** The targets of an interleaved scenario, started and measured together (lib/interleave.ts). */
interface Group {
  readonly scenario: Scenario;
  readonly jobs: readonly Job[];
}

/** Run a scenario kind's generator once against its backend so its JIT is warm before the first measured phase. */
async function warmGenerator(origin: string, s: Scenario, progress: Progress): Promise<void> {
  const end = progress.phase(`warming up the ${s.kind} load generator against its backend (${WARM_SEC}s)`, WARM_SEC);
  const o = { path: s.path, rate: s.bodyBytes > 65536 ? 200 : s.kind === 'grpc' ? 1000 : 3000, durationMs: WARM_SEC * 1000, expectBytes: s.bodyBytes, drainMs: 5000 };
  if (s.kind === 'grpc') {
    const client = await GrpcLoadClient.connect(origin, s.wrkConnections);
    try {
      await runGrpcOpenLoop(client, o);
    } finally {
      await client.close();
      end();
    }
    return;
  }
  const pool = openLoopClient(origin);
  try {
    await runOpenLoop(pool, o);
  } finally {
    await pool.close();
    end();
  }
}

async function main(argv: string[]): Promise<number> {
  const args = parseBenchArgs(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const scenarios = await loadScenarios(args.scenarios);
  const targets = pickTargets(args.targets, args.agentArgs);
  // One job per target build: the scenarios of its kind it takes part in (the layer variants: only `layers`).
  // An interleaved scenario (layers) is one group instead: all its targets started together, measured in turns.
  const kinds = [...new Set(scenarios.map((s) => s.kind))];
  const jobOf = (t: TargetDef, kind: Scenario['kind'], scs: readonly Scenario[]): Job => ({ t, kind, key: `${kind}:${t.name}`, scenarios: scs });
  const plan: (Job | Group)[] = kinds.flatMap((kind) => {
    const mine = targets.filter((t) => (t.kind ?? 'http1') === kind);
    const jobs = mine.map((t) => jobOf(t, kind, scenarios.filter((s) => !s.interleave && runsIn(t, s)))).filter((j) => j.scenarios.length > 0);
    const groups = scenarios.filter((s) => s.kind === kind && s.interleave)
      .map((s) => ({ scenario: s, jobs: mine.filter((t) => runsIn(t, s)).map((t) => jobOf(t, kind, [s])) }))
      .filter((g) => g.jobs.length > 0);
    return [...jobs, ...groups];
  });
  if (!plan.length) throw new Error(`no selected target runs any selected scenario (targets: ${targets.map((t) => t.name).join(', ')}; scenarios: ${scenarios.map((s) => s.name).join(', ')})`);
  if (!targets.some((t) => t.name === 'direct')) log('note: direct is not selected, so added latency and ×direct ratios are n/a');
  if (!targets.some((t) => t.name === 'haproxy')) log('note: haproxy is not selected, so ×HAProxy ratios are n/a');

  const tools = ensureTools(log);
  if (targets.some((t) => t.name.startsWith('aim-mesh'))) buildDist(REPO, log);
  const machine = describeMachine(toolVersions(tools));
  log(`Machine: ${machineLine(machine)}`);
  if (machine.loadAvgStart > 0.5 * machine.nproc) {
    log(`warning: the machine is busy (load average ${machine.loadAvgStart.toFixed(2)} on ${machine.nproc} cores); figures will be noisy`);
  }
  const jobName = (j: Job): string => (j.kind === 'http1' ? j.t.name : `${j.t.name} (${j.kind})`);
  log(`Targets: ${plan.map((x) => ('jobs' in x ? `[${x.scenario.name}: ${x.jobs.map(jobName).join(', ')}]` : jobName(x))).join(', ')} · scenarios: ${scenarios.map((s) => s.name).join(', ')} · runs: ${args.runs}${args.quick ? ' (--quick)' : ''}`);

  const dir = mkdtempSync(join(tmpdir(), 'aim-mesh-bench-'));
  const procs = new ProcessGroup(dir);
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`\n${sig}: stopping every process the harness started`);
    void procs.stopAll().finally(() => {
      if (!args.keep) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => procs.killAllNow());

  const perJob = (j: Job): number => START_SEC + j.scenarios.reduce((acc, s) => acc + plannedCellSec(args, s, j.t.name !== 'direct'), 0);
  const perGroup = (g: Group): number => START_SEC + plannedInterleavedSec({ args }, g.scenario, g.jobs.length);
  const progress = new Progress(WARM_SEC * kinds.length + args.runs * plan.reduce((acc, x) => acc + ('jobs' in x ? perGroup(x) : perJob(x)), 0));
  log(`Planned measuring time: about ${fmtDuration(progress.plannedTotalSec)} (plus target start-up)\n`);

  try {
    mkdirSync(join(dir, 'certs'));
    const certs = makeCerts(join(dir, 'certs'));
    const backends: Partial<Record<Scenario['kind'], RunningBackend>> = {};
    if (kinds.includes('http1')) backends.http1 = await startBackend(procs, tools.nginx, dir, scenarios.filter((s) => s.kind === 'http1'));
    if (kinds.includes('grpc')) backends.grpc = await startGrpcBackend(procs, REPO);
    for (const kind of kinds) await warmGenerator(`http://127.0.0.1:${backends[kind]?.port}`, scenarios.find((s) => s.kind === kind) as Scenario, progress);
    const info = new Map<string, TargetInfo>();
    for (const j of plan.flatMap((x) => ('jobs' in x ? x.jobs : [x]))) {
      const prev = info.get(j.key);
      info.set(j.key, { name: j.t.name, kind: j.kind, description: j.t.description, scenarios: [...(prev?.scenarios ?? []), ...j.scenarios.map((s) => s.name)], available: false });
    }
    const worked = new Set<string>();
    const raw: RawCell[] = [];

    /** Start a target build and smoke-check it; on failure record why and return undefined. */
    const startOne = async (j: Job, run: number, label: string): Promise<RunningTarget | undefined> => {
      const tdir = join(dir, `${j.t.name}-${j.kind}${j.scenarios.some((s) => s.interleave) ? `-${j.scenarios[0]?.name}` : ''}-run${run}`);
      mkdirSync(tdir);
      try {
        const running = await j.t.start({ procs, dir: tdir, certs, tools, backend: backends[j.kind] as RunningBackend, repo: REPO });
        try {
          for (const s of j.scenarios) await smokeCheck(running, s);
        } catch (e) {
          await running.stop();
          throw e;
        }
        worked.add(j.key);
        const { error: _e, ...prev } = info.get(j.key) as TargetInfo;
        info.set(j.key, { ...prev, available: true, ...(running.tlsHop ? {} : { handshakeNote: running.tlsHopNote ?? 'n/a' }) });
        return running;
      } catch (e) {
        const error = (e as Error).message;
        progress.note(`${label}: unavailable: ${error.split('\n').slice(0, 6).join('\n' + ' '.repeat(19))}`);
        if (!worked.has(j.key)) info.set(j.key, { ...(info.get(j.key) as TargetInfo), available: false, error });
        for (const s of j.scenarios) raw.push({ run, target: j.t.name, scenario: s.name, error });
        return undefined;
      }
    };

    const runJob = async (j: Job, run: number): Promise<void> => {
      const label = `run ${run}/${args.runs} · ${j.t.name}${j.kind === 'http1' ? '' : ` (${j.kind})`}`;
      const endStart = progress.phase(`${label} · start + smoke check`, START_SEC);
      const running = await startOne(j, run, label);
      endStart();
      if (!running) {
        progress.skip(perJob(j) - START_SEC);
        return;
      }
      for (const s of j.scenarios) {
        try {
          const cell = await measureCell({ procs, args, tools, dir, progress, label: `${label} · ${s.name}` }, running, s);
          raw.push({ run, target: j.t.name, scenario: s.name, cell });
        } catch (e) {
          progress.note(`failed: ${(e as Error).message}`);
          raw.push({ run, target: j.t.name, scenario: s.name, error: (e as Error).message });
        }
      }
      await running.stop();
    };

    // An interleaved scenario: start its targets side by side, measure them in turns, stop them all.
    const runGroup = async (g: Group, run: number): Promise<void> => {
      const label = `run ${run}/${args.runs} · ${g.scenario.name}`;
      const endStart = progress.phase(`${label} · start ${g.jobs.length} pairs side by side + smoke checks`, START_SEC);
      const started = await Promise.all(g.jobs.map(async (j) => ({ name: j.t.name, running: await startOne(j, run, j.t.name) })));
      endStart();
      const up = started.filter((x): x is { name: string; running: RunningTarget } => x.running !== undefined);
      try {
        if (!up.length) {
          progress.skip(perGroup(g) - START_SEC);
          return;
        }
        const cells = await measureInterleaved({ procs, args, tools, dir, progress, label }, up, g.scenario);
        for (const [name, cell] of cells) raw.push({ run, target: name, scenario: g.scenario.name, cell });
      } catch (e) {
        progress.note(`failed: ${(e as Error).message}`);
        for (const x of up) raw.push({ run, target: x.name, scenario: g.scenario.name, error: (e as Error).message });
      } finally {
        await Promise.all(up.map((x) => x.running.stop()));
      }
    };

    for (let run = 1; run <= args.runs; run++) {
      for (const x of plan) {
        if ('jobs' in x) {
          const g = run > 1 ? { ...x, jobs: x.jobs.filter((j) => worked.has(j.key)) } : x;
          if (g.jobs.length) await runGroup(g, run);
          else progress.skip(perGroup(x));
        } else if (run > 1 && !worked.has(x.key)) progress.skip(perJob(x));
        else await runJob(x, run);
      }
    }
    for (const b of Object.values(backends)) await procs.stop(b.tracked);

    machine.loadAvgEnd = os.loadavg()[0] ?? 0;
    const layers = scenarios.find((s) => s.name === LAYERS_SCENARIO);
    const { help: _h, outDir: _o, keep: _k, ...settings } = args;
    const report: Report = {
      generatedAt: new Date().toISOString(),
      durationSec: progress.elapsedSec(),
      machine,
      settings,
      scenarios: scenarios.map((s) => ({ name: s.name, kind: s.kind, description: s.description, path: s.path, bodyBytes: s.bodyBytes, rates: s.rates, handshake: s.handshake, ...(s.interleave ? { interleave: true } : {}), phases: phasesFor(args, s), metrics: metricDefs(s) })),
      targets: [...info.values()],
      figures: figuresFor(scenarios, raw, args.runs),
      ...(layers ? { layerCosts: layerCosts(LAYER_TOGGLES, metricsByRun(layers, raw, args.runs), pairSlices(layers, raw)) } : {}),
      raw,
    };
    const outDir = isAbsolute(args.outDir) ? args.outDir : resolve(args.outDir === 'bench/results' ? REPO : process.cwd(), args.outDir);
    const files = writeReport(outDir, report);
    printSummary(report, log);
    log(`\nDone in ${fmtDuration(progress.elapsedSec())}. Wrote:\n${files.map((f) => `  ${f}`).join('\n')}`);
    return 0;
  } finally {
    await procs.stopAll();
    if (args.keep) log(`Kept configs, certificates and process logs in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
