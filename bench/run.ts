#!/usr/bin/env node
/**
 * `npm run bench`: the aim-mesh agent pair against an HAProxy pair, an nginx
 * pair and direct, measured in the same run on this machine (issue 11).
 *
 * Order of work: install missing peers from Debian (telling the user), make
 * run-time mTLS certificates, start one shared nginx backend, then for each run
 * and each target: start it, smoke-check it, measure every scenario, stop it.
 * Headline figures are medians over runs; ratios to direct and to the HAProxy
 * pair are taken within each run. Writes bench/results/latest.{json,md,svg}.
 * Every process is tracked and stopped by PID (lib/procs.ts); loopback only.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, USAGE } from './lib/args.ts';
import { makeCerts } from './lib/certs.ts';
import { fmtRatio, withUnit } from './lib/format.ts';
import { ensureTools, toolVersions } from './lib/install.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { openLoopClient, runOpenLoop } from './lib/openloop.ts';
import { measureCell, plannedCellSec, smokeCheck, type CellResult } from './lib/measure.ts';
import { aggregate, cellMetrics, metricDefs, type Figure } from './lib/metrics.ts';
import { ProcessGroup } from './lib/procs.ts';
import { fmtDuration, Progress } from './lib/progress.ts';
import { writeReport, type RawCell, type Report, type TargetInfo } from './lib/report.ts';
import { loadScenarios, type Scenario } from './lib/scenario.ts';
import { startBackend } from './targets/backend.ts';
import { pickTargets } from './targets/index.ts';
import type { TargetDef } from './targets/types.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** Planned seconds to start, smoke-check and stop one target (for the ETA). */
const START_SEC = 1.5;
/** Seconds of generator warm-up before the first measured phase. */
const WARM_SEC = 2;
const log = (line: string): void => void process.stdout.write(`${line}\n`);

function figuresFor(scenarios: readonly Scenario[], targets: readonly TargetDef[], raw: readonly RawCell[], runs: number): Report['figures'] {
  const out: Record<string, Record<string, Record<string, Figure>>> = {};
  for (const s of scenarios) {
    const perRun = Array.from({ length: runs }, (_, i) => {
      const cells = new Map<string, CellResult>();
      for (const c of raw) if (c.run === i + 1 && c.scenario === s.name && c.cell) cells.set(c.target, c.cell);
      const m = new Map<string, Record<string, number>>();
      for (const t of targets) {
        const cell = cells.get(t.name);
        if (cell) m.set(t.name, cellMetrics(cell, t.name === 'direct' ? undefined : cells.get('direct')));
      }
      return m;
    });
    out[s.name] = Object.fromEntries(aggregate(perRun));
  }
  return out;
}

function printSummary(r: Report): void {
  for (const sc of r.scenarios) {
    const rate = sc.rates[0] ?? 0;
    log(`\n${sc.name} (${sc.description}); latency at ${rate.toLocaleString('en')} rps:`);
    for (const t of r.targets) {
      const f = r.figures[sc.name]?.[t.name];
      if (!t.available || !f) {
        log(`  ${t.name.padEnd(12)} unavailable: ${(t.error ?? '').split('\n')[0]}`);
        continue;
      }
      const tp = f.throughput_rps;
      const a50 = f[`added_p50_ms@${rate}`];
      const a99 = f[`added_p99_ms@${rate}`];
      log(`  ${t.name.padEnd(12)} ${withUnit(tp?.value ?? NaN, 'req/s').padStart(14)} (${fmtRatio(tp?.vsDirect ?? NaN)} direct, ${fmtRatio(tp?.vsHaproxy ?? NaN)} HAProxy)` +
        `  p50 ${withUnit(f[`p50_ms@${rate}`]?.value ?? NaN, 'ms')}  p99 ${withUnit(f[`p99_ms@${rate}`]?.value ?? NaN, 'ms')}` +
        (a50 ? `  added p50 ${withUnit(a50.value, 'ms')} (${fmtRatio(a50.vsHaproxy)} H), p99 ${withUnit(a99?.value ?? NaN, 'ms')} (${fmtRatio(a99?.vsHaproxy ?? NaN)} H)` : ''));
    }
  }
}

/** Run the generator once against the backend so its JIT is warm before the first measured phase. */
async function warmGenerator(origin: string, s: Scenario, progress: Progress): Promise<void> {
  const end = progress.phase(`warming up the load generator against the backend (${WARM_SEC}s)`, WARM_SEC);
  const pool = openLoopClient(origin);
  try {
    await runOpenLoop(pool, { path: s.path, rate: s.bodyBytes > 65536 ? 200 : 3000, durationMs: WARM_SEC * 1000, expectBytes: s.bodyBytes, drainMs: 5000 });
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
  if (!targets.some((t) => t.name === 'direct')) log('note: direct is not selected, so added latency and ×direct ratios are n/a');
  if (!targets.some((t) => t.name === 'haproxy')) log('note: haproxy is not selected, so ×HAProxy ratios are n/a');

  const tools = ensureTools(log);
  const machine = describeMachine(toolVersions(tools));
  log(`Machine: ${machineLine(machine)}`);
  if (machine.loadAvgStart > 0.5 * machine.nproc) {
    log(`warning: the machine is busy (load average ${machine.loadAvgStart.toFixed(2)} on ${machine.nproc} cores); figures will be noisy`);
  }
  log(`Targets: ${targets.map((t) => t.name).join(', ')} · scenarios: ${scenarios.map((s) => s.name).join(', ')} · runs: ${args.runs}${args.quick ? ' (--quick)' : ''}`);

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

  const perTarget = (t: TargetDef): number => START_SEC + scenarios.reduce((acc, s) => acc + plannedCellSec(args, s, t.name !== 'direct'), 0);
  const progress = new Progress(WARM_SEC + args.runs * targets.reduce((acc, t) => acc + perTarget(t), 0));
  log(`Planned measuring time: about ${fmtDuration(progress.plannedTotalSec)} (plus target start-up)\n`);

  try {
    mkdirSync(join(dir, 'certs'));
    const certs = makeCerts(join(dir, 'certs'));
    const backend = await startBackend(procs, tools.nginx, dir, scenarios);
    await warmGenerator(`http://127.0.0.1:${backend.port}`, scenarios[0] as Scenario, progress);
    const info = new Map<string, TargetInfo>(targets.map((t) => [t.name, { name: t.name, description: t.description, available: false }]));
    const worked = new Set<string>();
    const raw: RawCell[] = [];
    for (let run = 1; run <= args.runs; run++) {
      for (const t of targets) {
        if (run > 1 && !worked.has(t.name)) {
          progress.skip(perTarget(t));
          continue;
        }
        const label = `run ${run}/${args.runs} · ${t.name}`;
        const endStart = progress.phase(`${label} · start + smoke check`, START_SEC);
        const tdir = join(dir, `${t.name}-run${run}`);
        mkdirSync(tdir);
        let running;
        try {
          running = await t.start({ procs, dir: tdir, certs, tools, backend, repo: REPO });
          try {
            for (const s of scenarios) await smokeCheck(running, s);
          } catch (e) {
            await running.stop();
            throw e;
          }
        } catch (e) {
          const error = (e as Error).message;
          progress.note(`unavailable: ${error.split('\n').slice(0, 6).join('\n' + ' '.repeat(19))}`);
          if (!worked.has(t.name)) info.set(t.name, { ...(info.get(t.name) as TargetInfo), available: false, error });
          for (const s of scenarios) raw.push({ run, target: t.name, scenario: s.name, error });
          endStart();
          progress.skip(perTarget(t) - START_SEC);
          continue;
        }
        endStart();
        worked.add(t.name);
        info.set(t.name, { name: t.name, description: t.description, available: true, ...(running.tlsHop ? {} : { handshakeNote: running.tlsHopNote ?? 'n/a' }) });
        for (const s of scenarios) {
          try {
            const cell = await measureCell({ procs, args, wrk: tools.wrk, progress, label: `${label} · ${s.name}` }, running, s);
            raw.push({ run, target: t.name, scenario: s.name, cell });
          } catch (e) {
            progress.note(`failed: ${(e as Error).message}`);
            raw.push({ run, target: t.name, scenario: s.name, error: (e as Error).message });
          }
        }
        await running.stop();
      }
    }
    await procs.stop(backend.tracked);

    machine.loadAvgEnd = os.loadavg()[0] ?? 0;
    const { help: _h, outDir: _o, keep: _k, ...settings } = args;
    const report: Report = {
      generatedAt: new Date().toISOString(),
      durationSec: progress.elapsedSec(),
      machine,
      settings,
      scenarios: scenarios.map((s) => ({ name: s.name, description: s.description, path: s.path, bodyBytes: s.bodyBytes, rates: s.rates, metrics: metricDefs(s) })),
      targets: [...info.values()],
      figures: figuresFor(scenarios, targets, raw, args.runs),
      raw,
    };
    const outDir = isAbsolute(args.outDir) ? args.outDir : resolve(args.outDir === 'bench/results' ? REPO : process.cwd(), args.outDir);
    const files = writeReport(outDir, report);
    printSummary(report);
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
