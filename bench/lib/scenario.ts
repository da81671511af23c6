/**
 * What a scenario is, and how the harness finds them: one file per scenario in
 * bench/scenarios/ (pino's one-bench-per-file layout), each default-exporting a
 * `Scenario`. Adding a scenario means adding a file; run.ts needs no change for
 * another HTTP/1.1 shape. Each `kind` has its own clients (lib/drivers.ts),
 * backend and target builds: http1 (nginx backend) and grpc (a Node gRPC peer).
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Scenario {
  /** Set from the file name by the loader. */
  readonly name: string;
  readonly description: string;
  /** http1: undici open loop + wrk, nginx backend. grpc: node:http2 open loop + h2load, gRPC peer backend. */
  readonly kind: 'http1' | 'grpc';
  /** Run order among scenarios (lower first). */
  readonly order: number;
  /** Path the client asks for; the backend serves a body of `bodyBytes` there. */
  readonly path: string;
  readonly bodyBytes: number;
  /** Open-loop rates (req/s). CPU is reported at every rate; the headline CPU is at rates[0]. */
  readonly rates: readonly number[];
  /** Connections of the closed-loop max-throughput phase (wrk, or h2load for grpc). */
  readonly wrkConnections: number;
  /** grpc: concurrent streams per connection, in h2load and across the open-loop sessions (default 1). */
  readonly streams?: number;
  /** Only these targets run the scenario (default: every target of its kind that runs it). */
  readonly targets?: readonly string[];
  /**
   * Start all its targets side by side and measure them in interleaved 1-second closed-loop slices
   * (lib/interleave.ts) instead of one after another; phaseSec.closed is then the number of rounds.
   */
  readonly interleave?: boolean;
  /**
   * This scenario's own phase lengths, in seconds, instead of the flags' (--warmup, --rate-secs, --wrk-secs),
   * sized to keep the full run under ten minutes; --quick may only shorten them. A scenario without fixed
   * rates warms up with the closed-loop tool.
   */
  readonly phaseSec?: { readonly warmup?: number; readonly rate?: number; readonly closed?: number };
  /** Measure the mTLS handshake rate in this scenario (once per target is enough). */
  readonly handshake: boolean;
}

export type ScenarioSpec = Omit<Scenario, 'name'>;

const DIR = fileURLToPath(new URL('../scenarios/', import.meta.url));

/** Every scenario file's name (without .ts), sorted. */
export function scenarioNames(): string[] {
  return readdirSync(DIR).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
}

/** Does target `t` take part in scenario `s`? */
export function runsIn(t: { name: string; kind?: string; scenarios?: readonly string[] }, s: Scenario): boolean {
  return (t.kind ?? 'http1') === s.kind && (!t.scenarios || t.scenarios.includes(s.name)) && (!s.targets || s.targets.includes(t.name));
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
