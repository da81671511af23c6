/**
 * A hand-written SVG grouped bar chart for the README: per scenario with an
 * HAProxy pair (small, large, grpc), three groups (max throughput, added p50,
 * added p99 at the first fixed rate), one bar per proxy target, each the ratio
 * to the HAProxy pair in the same run (the dashed line at 1.0); then, when the
 * layers scenario ran, the per-layer cost as horizontal bars. Bars carry the ratio and the absolute figure. No
 * dependencies: plain SVG text, readable on GitHub's light and dark themes.
 */
import { fmtValue } from './format.ts';
import { machineLine } from './machine.ts';
import type { Figure } from './metrics.ts';
import type { Report } from './report.ts';

const COLORS = ['#4e79a7', '#59a14f', '#e15759', '#f28e2b', '#b07aa1', '#76b7b2'];
const W = 920;
const PANEL_H = 300;
const LEFT = 64;
const RIGHT = 96;
/** Highest ratio the axis shows. */
const Y_CAP = 6;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceStep(max: number): number {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw);
}

interface Group {
  readonly title: string;
  readonly key: string;
  readonly unit: string;
}

function panel(r: Report, sc: Report['scenarios'][number], y0: number, legend: readonly string[]): string {
  const targets = legend.filter((t) => r.figures[sc.name]?.[t]);
  const rate = sc.rates[0] ?? 0;
  const figs = r.figures[sc.name] ?? {};
  const groups: Group[] = [
    { title: 'Max throughput (higher is better)', key: 'throughput_rps', unit: 'req/s' },
    { title: `Added p50 @ ${rate.toLocaleString('en')} rps (lower is better)`, key: `added_p50_ms@${rate}`, unit: 'ms' },
    { title: `Added p99 @ ${rate.toLocaleString('en')} rps (lower is better)`, key: `added_p99_ms@${rate}`, unit: 'ms' },
  ];
  const fig = (t: string, k: string): Figure | undefined => figs[t]?.[k];
  const ratios = targets.flatMap((t) => groups.map((g) => fig(t, g.key)?.vsHaproxy ?? Number.NaN)).filter(Number.isFinite);
  // The axis stops at Y_CAP×: a bar beyond it (an overloaded target) is drawn to the top, broken, with its real ratio.
  const top1 = Math.min(Y_CAP, Math.max(1.2, ...ratios) * 1.15);
  const step = niceStep(top1);
  const yMax = Math.ceil(top1 / step) * step;
  const top = y0 + 48;
  const plotH = PANEL_H - 100;
  const base = top + plotH;
  const y = (v: number): number => base - (Math.min(Math.max(0, v), yMax) / yMax) * plotH;
  const plotW = W - LEFT - RIGHT;
  const gw = plotW / groups.length;
  const bw = Math.min(64, (gw - 40) / Math.max(1, targets.length));
  const parts: string[] = [
    `<text x="${LEFT}" y="${y0 + 20}" class="h2">${esc(`${sc.name}: ${sc.description}`)}</text>`,
  ];
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`,
      `<text x="${LEFT - 8}" y="${y(v) + 4}" class="axis" text-anchor="end">${v.toFixed(step < 0.5 ? 2 : 1)}×</text>`);
  }
  // The reference line goes under the bars, so a bar near 1.0 stays readable.
  parts.push(`<line x1="${LEFT}" x2="${W - RIGHT + 6}" y1="${y(1)}" y2="${y(1)}" class="ref"/>`,
    `<text x="${W - RIGHT + 10}" y="${y(1) - 2}" class="small">HAProxy</text>`,
    `<text x="${W - RIGHT + 10}" y="${y(1) + 11}" class="small">pair = 1×</text>`,
    `<text x="${LEFT - 46}" y="${top - 12}" class="small">× HAProxy pair</text>`);
  groups.forEach((g, gi) => {
    const gx = LEFT + gi * gw + (gw - bw * targets.length) / 2;
    targets.forEach((t, ti) => {
      const f = fig(t, g.key);
      const x = gx + ti * bw;
      const color = COLORS[legend.indexOf(t) % COLORS.length];
      if (!f || !Number.isFinite(f.vsHaproxy)) {
        parts.push(`<text x="${x + bw / 2}" y="${base - 6}" class="small" text-anchor="middle">n/a</text>`);
        return;
      }
      const h = base - y(f.vsHaproxy);
      const broken = f.vsHaproxy > yMax;
      // A broken bar carries its labels inside, under the break, in white.
      const [ly, style] = broken ? [base - h + 38, ' style="fill:#ffffff"'] : [base - h - 18, ''];
      parts.push(
        `<rect x="${x + 3}" y="${base - h}" width="${bw - 6}" height="${Math.max(h, 1)}" fill="${color}"><title>${esc(`${t}: ${f.vsHaproxy.toFixed(3)}× HAProxy; ${fmtValue(f.value, g.unit as 'ms')} ${g.unit}`)}</title></rect>`,
        `<text x="${x + bw / 2}" y="${ly}" class="val" text-anchor="middle"${style}>${f.vsHaproxy.toFixed(f.vsHaproxy >= 100 ? 0 : 2)}×</text>`,
        `<text x="${x + bw / 2}" y="${ly + 13}" class="small" text-anchor="middle"${style}>${esc(fmtValue(f.value, g.unit as 'ms'))}${g.unit === 'ms' ? ' ms' : '/s'}</text>`,
      );
      if (broken) parts.push(`<path d="M${x + 3} ${base - h + 14} l${(bw - 6) / 2} -6 l${(bw - 6) / 2} 6" stroke="#ffffff" stroke-width="3" fill="none"/>`);
    });
    parts.push(`<text x="${LEFT + gi * gw + gw / 2}" y="${base + 20}" class="axis" text-anchor="middle">${esc(g.title)}</text>`);
  });
  parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${base}" y2="${base}" class="base"/>`);
  return parts.join('\n');
}

/**
 * The per-layer cost panel: one horizontal bar per toggle, the added CPU per
 * request of both agents (variant with the layer − without), with the
 * throughput ratio and the noise beside it. Bars left of zero are noise (a layer cannot save CPU).
 */
function layerPanel(r: Report, y0: number): string {
  const costs = (r.layerCosts ?? []).filter((c) => Number.isFinite(c.addedUsPair));
  const top = y0 + 40;
  const rowH = 30;
  const labelW = 250;
  const x0 = LEFT + labelW;
  const plotW = W - 40 - 250 - x0; // room right of the longest bar for its label
  const lo = Math.min(0, ...costs.map((c) => c.addedUsPair));
  const hi = Math.max(1, ...costs.map((c) => c.addedUsPair));
  const x = (v: number): number => x0 + ((v - lo) / (hi - lo)) * plotW;
  const parts = [`<text x="${LEFT}" y="${y0 + 20}" class="h2">${esc('layers: added CPU per request, both agents (variant with the layer − without, same run)')}</text>`,
    `<line x1="${x(0)}" x2="${x(0)}" y1="${top - 6}" y2="${top + costs.length * rowH}" class="base"/>`,
    `<text x="${LEFT}" y="${top + costs.length * rowH + 14}" class="small">${esc('± one standard error from the 1-second slices; a difference within about twice it is noise')}</text>`];
  costs.forEach((c, i) => {
    const y = top + i * rowH;
    const a = Math.min(x(0), x(c.addedUsPair));
    parts.push(
      `<text x="${x0 - 10}" y="${y + 15}" class="axis" text-anchor="end">${esc(c.layer)}</text>`,
      `<rect x="${a}" y="${y + 3}" width="${Math.max(1, Math.abs(x(c.addedUsPair) - x(0)))}" height="${rowH - 10}" fill="${COLORS[i % COLORS.length]}"><title>${esc(`${c.layer}: ${c.addedUsPair.toFixed(2)} µs per request; throughput ${c.throughputRatio.toFixed(3)}×`)}</title></rect>`,
      `<text x="${Math.max(x(0), x(c.addedUsPair)) + 6}" y="${y + 15}" class="val">${esc(`${c.addedUsPair >= 0 ? '+' : ''}${fmtValue(c.addedUsPair, 'µs')}${Number.isFinite(c.noiseUs) ? ` ± ${fmtValue(c.noiseUs, 'µs')}` : ''} µs · throughput ${Number.isFinite(c.throughputRatio) ? c.throughputRatio.toFixed(2) : 'n/a'}×`)}</text>`,
    );
  });
  return parts.join('\n');
}

const LAYER_PANEL_H = (r: Report): number => (r.layerCosts?.length ? 76 + r.layerCosts.length * 30 : 0);

export function renderSvg(r: Report): string {
  // Panels for the scenarios with HAProxy ratios to show (not `layers`, whose variants have no peer).
  const panels = r.scenarios.filter((sc) => r.figures[sc.name]?.haproxy);
  const names = [...new Set(r.targets.map((t) => t.name))].filter((t) => t !== 'direct' && panels.some((sc) => r.targets.some((x) => x.name === t && x.scenarios.includes(sc.name))));
  const H = 78 + panels.length * PANEL_H + LAYER_PANEL_H(r) + 44;
  const legend = names.map((t, i) => {
    const available = r.targets.some((x) => x.name === t && x.available);
    const x = LEFT + i * 170;
    return `<rect x="${x}" y="50" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>` +
      `<text x="${x + 18}" y="60" class="axis">${esc(t)}${available ? '' : ' (unavailable)'}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<style>
  .bg { fill: #ffffff; } .h1 { font-size: 17px; font-weight: 600; fill: #1f2328; } .h2 { font-size: 14px; font-weight: 600; fill: #1f2328; }
  .axis { font-size: 12px; fill: #424a53; } .small { font-size: 10.5px; fill: #57606a; } .val { font-size: 12px; font-weight: 600; fill: #1f2328; }
  .grid { stroke: #d8dee4; stroke-width: 1; } .base { stroke: #57606a; stroke-width: 1; } .ref { stroke: #1f2328; stroke-width: 1.2; stroke-dasharray: 5 4; }
</style>
<rect class="bg" width="${W}" height="${H}" rx="6"/>
<text x="${LEFT}" y="28" class="h1">${esc(`Proxy pairs vs the HAProxy pair, same run (median of ${r.settings.runs} run${r.settings.runs > 1 ? 's' : ''}${r.settings.quick ? ', --quick' : ''})`)}</text>
${legend.join('\n')}
${panels.map((sc, i) => panel(r, sc, 70 + i * PANEL_H, names)).join('\n')}
${LAYER_PANEL_H(r) ? layerPanel(r, 70 + panels.length * PANEL_H) : ''}
<text x="${LEFT}" y="${H - 30}" class="small">${esc(machineLine(r.machine))}</text>
<text x="${LEFT}" y="${H - 14}" class="small">${esc(`${r.generatedAt.slice(0, 16).replace('T', ' ')} UTC · load average ${r.machine.loadAvgStart.toFixed(2)} → ${r.machine.loadAvgEnd.toFixed(2)} · bars: ratio to the HAProxy pair in the same run, label: absolute median`)}</text>
</svg>
`;
}
