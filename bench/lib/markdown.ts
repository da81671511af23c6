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
import type { LayerCost } from './layers.ts';
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

/** The per-layer cost table under the layers scenario. */
function layerTable(costs: readonly LayerCost[]): string[] {
  const us = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${fmtValue(v, 'µs')}` : 'n/a');
  return [
    '**Per-layer cost** (variant with the layer − variant without, same run, median of runs; CPU per request at max throughput; ' +
      'the noise column is one standard error from the spread of the 1-second slices: a difference within about twice it is noise):',
    '',
    '| Layer | Switched by | Added CPU/request, outbound (µs) | inbound (µs) | both agents (µs) | noise, 1 s.e. (µs) | Throughput, with ÷ without | Per run, both agents (µs) |',
    '|---|---|---:|---:|---:|---:|---:|---|',
    ...costs.map((c) => `| ${c.layer} | ${c.toggle} | ${us(c.addedUsOutbound)} | ${us(c.addedUsInbound)} | ${us(c.addedUsPair)} | ` +
      `± ${Number.isFinite(c.noiseUs) ? fmtValue(c.noiseUs, 'µs') : 'n/a'} | ${fmtRatio(c.throughputRatio)} | ${c.runs.map(us).join(', ')} |`),
    '',
  ];
}

export function renderMarkdown(r: Report, svgName: string): string {
  const s = r.settings;
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
      `Phases: ${s.warmupSec} s warm-up + ${s.rateSec} s per fixed rate, ${s.wrkSec} s wrk, ${s.handshakeSec} s handshakes ` +
      '(grpc and layers set their own; each table says its phases).',
    '',
    `![benchmark chart](${svgName})`,
    '',
    '**Targets**',
    '',
    ...r.targets.map((t) => `- **${t.name}**${t.kind === 'http1' ? '' : ` (${t.kind})`}: ${t.description}`),
    '',
  ];
  for (const sc of r.scenarios) {
    const figs = r.figures[sc.name] ?? {};
    const avail = r.targets.filter((t) => t.available && t.scenarios.includes(sc.name));
    out.push(`## ${sc.name}: ${sc.description}`, '');
    const ph = sc.phases;
    if (ph && sc.interleave) {
      out.push(`Phases: the pairs run side by side; ${Math.max(1, Math.round(ph.warmupSec))} s of wrk warm-up each, then ${ph.closedSec} rounds of a ` +
        '1-second wrk slice on each pair in turn (the order rotates every round).', '');
    } else if (ph) {
      out.push(`Phases: ${sc.rates.length ? `${ph.warmupSec} s warm-up + ${ph.rateSec} s at each fixed rate, ` : `${Math.max(1, Math.round(ph.warmupSec))} s closed-loop warm-up, `}` +
        `${ph.closedSec} s ${sc.kind === 'grpc' ? 'h2load' : 'wrk'}${sc.handshake ? `, ${s.handshakeSec} s handshakes` : ''}.`, '');
    }
    out.push(`| Measure | ${avail.map((t) => t.name).join(' | ')} |`, `|---|${avail.map(() => '---:').join('|')}|`);
    for (const def of sc.metrics) {
      if (MD_SKIP.test(def.key)) continue;
      const cells = avail.map((t) => cell(figs[t.name]?.[def.key], def, t.name));
      if (cells.every((c) => c === '—')) continue;
      out.push(`| ${def.label}${def.unit ? ` (${def.unit})` : ''} | ${cells.join(' | ')} |`);
    }
    out.push('');
    if (sc.name === 'layers' && r.layerCosts?.length) out.push(...layerTable(r.layerCosts));
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
    for (const t of down) out.push(`- **${t.name}**${t.kind === 'http1' ? '' : ` (${t.kind})`} unavailable: \`${(t.error ?? 'unknown error').split('\n')[0]?.slice(0, 300)}\``);
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
    '- **Max throughput** is `wrk` (closed loop, keep-alive; `h2load` for gRPC) with the scenario\'s connection count; all processes share the same 2 cores.',
    '- **CPU per request at max throughput** is each proxy\'s CPU time over the wrk phase divided by the requests wrk completed: ' +
      'it measures efficiency, and holds up on a busy machine where req/s does not.',
    '- **CPU** is utime+stime from /proc/&lt;pid&gt;/stat over the measured fixed-rate phase, per role (for nginx, master + worker), in cores. ' +
      '**RSS** is VmRSS from /proc/&lt;pid&gt;/status after the last fixed-rate phase, summed per role the same way.',
    '- **gRPC** (scenario grpc): the backend is a Node gRPC peer (@grpc/grpc-js, one process, h2c) with one unary method; each pair ' +
      'speaks HTTP/2 end to end (h2c in, h2 over the mTLS hop with ALPN h2, h2c to the peer; the agents with protocol grpc on both ports). ' +
      'The open loop sends unary calls with node:http2 on 4 sessions; `h2load` (nghttp2) is the closed loop, 4 connections × 8 streams. ' +
      'h2load counts HTTP statuses only, so gRPC errors (grpc-status in trailers) are counted from its payload bytes: every good call ' +
      'returns exactly one 133-byte framed message, an error none; the open loop checks grpc-status 0 and the message on every call.',
    '- **Per-layer cost** (scenario layers): fresh agent pairs one layer apart (defaults as shipped; without metrics; without retries; ' +
      'with the access log), started side by side, each warmed up with wrk, then measured in turns (1-second wrk slices, ' +
      'rotating the order each round) so drifting background load falls on all alike. A layer\'s cost is the CPU per request ' +
      'of the variant with it minus the one without, per agent, within each run, then the median; the throughput ratio is with ÷ without.',
    '- **Handshake rate**: 4 concurrent clients each open a new TLS connection to the pair\'s mTLS-in side with a full handshake ' +
      '(no resumption; client certificate presented and verified), send one request with `Connection: close`, read the response, repeat. ' +
      'The client generator shares the machine, so conn/s is bounded by it too; the inbound CPU per connection is not.',
    '',
  );
  return out.join('\n');
}
