/**
 * What a scenario is, and how the harness finds them: one file per scenario in
 * bench/scenarios/ (pino's one-bench-per-file layout), each default-exporting a
 * `Scenario`. Adding a scenario means adding a file; run.ts needs no change for
 * another HTTP/1.1 shape. A new `kind` (gRPC unary, per-layer cost) adds its own
 * client and backend beside the http1 ones, keyed by this field.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Scenario {
  /** Set from the file name by the loader. */
  readonly name: string;
  readonly description: string;
  readonly kind: 'http1';
  /** Run order among scenarios (lower first). */
  readonly order: number;
  /** Path the client asks for; the backend serves a body of `bodyBytes` there. */
  readonly path: string;
  readonly bodyBytes: number;
  /** Open-loop rates (req/s). CPU is reported at every rate; the headline CPU is at rates[0]. */
  readonly rates: readonly number[];
  /** wrk's connections for the closed-loop max-throughput phase. */
  readonly wrkConnections: number;
  /** Measure the mTLS handshake rate in this scenario (once per target is enough). */
  readonly handshake: boolean;
}

export type ScenarioSpec = Omit<Scenario, 'name'>;

const DIR = fileURLToPath(new URL('../scenarios/', import.meta.url));

/** Every scenario file's name (without .ts), sorted. */
export function scenarioNames(): string[] {
  return readdirSync(DIR).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
}

/** Load the named scenarios (all when `names` is empty), in their `order`. */
export async function loadScenarios(names: readonly string[]): Promise<Scenario[]> {
  const all = scenarioNames();
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')} (have: ${all.join(', ')})`);
  const picked = names.length ? names : all;
  const out: Scenario[] = [];
  for (const name of picked) {
    const mod = (await import(new URL(`${name}.ts`, `file://${DIR}`).href)) as { default: ScenarioSpec };
    out.push({ ...mod.default, name });
  }
  return out.sort((a, b) => a.order - b.order);
}
