/**
 * The targets issue 11 sets for the agent pair, checked against a report's
 * headline scenario (the first one with a 1,000 rps phase, normally `small`).
 * Each goal says which figure it reads and the bound; the result is met,
 * missed, or n/a when the figure is absent (target unavailable).
 */
import type { Figure } from './metrics.ts';

export interface GoalCheck {
  readonly target: string;
  readonly goal: string;
  readonly bound: string;
  readonly actual: number;
  readonly unit: string;
  readonly status: 'met' | 'missed' | 'n/a';
}

interface Goal {
  readonly goal: string;
  readonly appliesTo: (target: string) => boolean;
  readonly limit: (target: string) => number;
  readonly kind: 'min' | 'max';
  readonly unit: string;
  readonly read: (f: Readonly<Record<string, Figure>>, rate: number) => number;
}

const agent = (t: string): boolean => t.startsWith('aim-mesh');
const perAgentMax = (f: Readonly<Record<string, Figure>>, k: string): number =>
  Math.max(f[`${k.replace('*', 'outbound')}`]?.value ?? Number.NaN, f[`${k.replace('*', 'inbound')}`]?.value ?? Number.NaN);

const GOALS: readonly Goal[] = [
  { goal: 'Throughput vs HAProxy pair', appliesTo: agent, limit: (t) => (t === 'aim-mesh' ? 0.6 : 0.85), kind: 'min', unit: '×', read: (f) => f.throughput_rps?.vsHaproxy ?? Number.NaN },
  { goal: 'Added p50 vs HAProxy pair', appliesTo: agent, limit: () => 1.25, kind: 'max', unit: '×', read: (f, r) => f[`added_p50_ms@${r}`]?.vsHaproxy ?? Number.NaN },
  { goal: 'Added p99 vs HAProxy pair', appliesTo: agent, limit: () => 1.6, kind: 'max', unit: '×', read: (f, r) => f[`added_p99_ms@${r}`]?.vsHaproxy ?? Number.NaN },
  { goal: 'CPU per agent', appliesTo: agent, limit: () => 0.1, kind: 'max', unit: 'cores', read: (f, r) => perAgentMax(f, `cpu_*@${r}`) },
  { goal: 'RSS per agent', appliesTo: agent, limit: () => 64, kind: 'max', unit: 'MB', read: (f) => perAgentMax(f, 'rss_*_mb') },
];

export function checkGoals(figures: Readonly<Record<string, Readonly<Record<string, Figure>>>>, rate: number): GoalCheck[] {
  const out: GoalCheck[] = [];
  for (const target of Object.keys(figures).filter(agent)) {
    const f = figures[target] ?? {};
    for (const g of GOALS.filter((x) => x.appliesTo(target))) {
      const actual = g.read(f, rate);
      const lim = g.limit(target);
      const ok = g.kind === 'min' ? actual >= lim : actual <= lim;
      out.push({
        target, goal: g.goal, bound: `${g.kind === 'min' ? '≥' : '≤'} ${lim}${g.unit === '×' ? '×' : ` ${g.unit}`}`,
        actual, unit: g.unit, status: Number.isFinite(actual) ? (ok ? 'met' : 'missed') : 'n/a',
      });
    }
  }
  return out;
}
