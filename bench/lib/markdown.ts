/**
 * The Markdown report (bench/results/latest.md): machine and settings, one table
 * per scenario (rows = measures, columns = targets, each cell the median with
 * its ratios to direct "×D" and to the HAProxy pair "×H"), the issue's goals
 * for the agent, unavailable targets with their errors, and how each figure is
 * measured. The README embeds this table and latest.svg.
 */
import { checkGoals } from './goals.ts';
import { fmtRatio, fmtValue, withUnit } from './format.ts';
import { machineLine } from './machine.ts';
import type { Figure, MetricDef } from './metrics.ts';
import type { Report } from './report.ts';

/** Measures left out of the Markdown table (kept in the JSON) to keep it readable. */
const MD_SKIP = /^added_(p90|p999)_/;

function cell(f: Figure | undefined, def: MetricDef, target: string): string {
  if (!f || !Number.isFinite(f.value)) return '—';
  const parts: string[] = [];
  if (target !== 'direct' && Number.isFinite(f.vsDirect)) parts.push(`${fmtRatio(f.vsDirect)}D`);
  if (target !== 'haproxy' && Number.isFinite(f.vsHaproxy)) parts.push(`${fmtRatio(f.vsHaproxy)}H`);
  return `${fmtValue(f.value, def.unit)}${parts.length ? ` (${parts.join(' · ')})` : ''}`;
}

export function renderMarkdown(r: Report, svgName: string): string {
  const s = r.settings;
  const avail = r.targets.filter((t) => t.available);
  const out: string[] = [
    `# aim-mesh benchmark results`,
    '',
    `Generated ${r.generatedAt} in ${Math.round(r.durationSec)} s. **Machine:** ${machineLine(r.machine)}.`,
    `Peers: ${Object.values(r.machine.tools).join('; ')}. ` +
      `Load average (1 min) at start ${r.machine.loadAvgStart.toFixed(2)}, at end ${r.machine.loadAvgEnd.toFixed(2)}: ` +
      'anything else running on the machine shows up as noise, so compare ratios from one run, not figures across runs.',
    '',
    `Each figure is the median of ${s.runs} run(s)${s.quick ? ' (**--quick**: short phases, not for publishing)' : ''}; ` +
      `ratios are taken within each run, then their median: **×D** = to direct, **×H** = to the HAProxy pair. ` +
      `Phases: ${s.warmupSec} s warm-up + ${s.rateSec} s per fixed rate, ${s.wrkSec} s wrk, ${s.handshakeSec} s handshakes.`,
    '',
    `![benchmark chart](${svgName})`,
    '',
    '**Targets**',
    '',
    ...r.targets.map((t) => `- **${t.name}**: ${t.description}`),
    '',
  ];
  for (const sc of r.scenarios) {
    const figs = r.figures[sc.name] ?? {};
    out.push(`## ${sc.name}: ${sc.description}`, '');
    out.push(`| Measure | ${avail.map((t) => t.name).join(' | ')} |`, `|---|${avail.map(() => '---:').join('|')}|`);
    for (const def of sc.metrics) {
      if (MD_SKIP.test(def.key)) continue;
      const cells = avail.map((t) => cell(figs[t.name]?.[def.key], def, t.name));
      if (cells.every((c) => c === '—')) continue;
      out.push(`| ${def.label}${def.unit ? ` (${def.unit})` : ''} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  const head = r.scenarios.find((x) => x.rates.includes(1000)) ?? r.scenarios[0];
  const goals = head ? checkGoals(r.figures[head.name] ?? {}, head.rates.includes(1000) ? 1000 : (head.rates[0] ?? 0)) : [];
  if (goals.length) {
    out.push(`## Issue 11 goals for the agent (scenario ${head?.name})`, '', '| Target | Goal | Bound | Measured | Status |', '|---|---|---|---:|---|');
    for (const g of goals) {
      const actual = g.unit === '×' ? fmtRatio(g.actual) : withUnit(g.actual, g.unit === 'cores' ? 'cores' : 'MB');
      out.push(`| ${g.target} | ${g.goal} | ${g.bound} | ${actual} | ${g.status} |`);
    }
    out.push('');
  }
  const down = r.targets.filter((t) => !t.available);
  const notes = r.targets.filter((t) => t.available && t.handshakeNote && t.name !== 'direct');
  if (down.length || notes.length) {
    out.push('## Not measured', '');
    for (const t of down) out.push(`- **${t.name}** unavailable: \`${(t.error ?? 'unknown error').split('\n')[0]?.slice(0, 300)}\``);
    for (const t of notes) out.push(`- **${t.name}** handshake rate ${t.handshakeNote}`);
    out.push('');
  }
  out.push(
    '## How each figure is measured',
    '',
    '- **Path.** direct: client → nginx backend (one worker, fixed body from a file, keep-alive). Pairs: client → outbound proxy ' +
      '(plaintext in, mTLS out) → inbound proxy (mTLS in, client certificate required and verified, plaintext out) → the same backend. ' +
      'HAProxy and nginx run one thread/worker each; certificates are ECDSA P-256, made with openssl for the run. Loopback only.',
    '- **Fixed-rate latency** comes from an open-loop generator (undici, up to ' + `${s.connections}` + ' keep-alive connections): ' +
      'request *i* is sent at start + *i*/rate whether or not earlier ones returned, and its latency runs from that scheduled time to ' +
      "the last body byte, so stalls are charged to every request they delayed (wrk2's coordinated-omission correction). " +
      'Percentiles are exact (nearest rank over all samples). **Added** = the target\'s percentile minus direct\'s in the same run.',
    '- **Max throughput** is `wrk` (closed loop, keep-alive) with the scenario\'s connection count; all processes share the same 2 cores.',
    '- **CPU per request at max throughput** is each proxy\'s CPU time over the wrk phase divided by the requests wrk completed: ' +
      'it measures efficiency, and holds up on a busy machine where req/s does not.',
    '- **CPU** is utime+stime from /proc/&lt;pid&gt;/stat over the measured fixed-rate phase, per role (for nginx, master + worker), in cores. ' +
      '**RSS** is VmRSS from /proc/&lt;pid&gt;/status after the last fixed-rate phase, summed per role the same way.',
    '- **Handshake rate**: 4 concurrent clients each open a new TLS connection to the pair\'s mTLS-in side with a full handshake ' +
      '(no resumption; client certificate presented and verified), send one request with `Connection: close`, read the response, repeat. ' +
      'The client generator shares the machine, so conn/s is bounded by it too; the inbound CPU per connection is not.',
    '',
  );
  return out.join('\n');
}
