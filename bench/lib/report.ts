/**
 * The report model written to bench/results/latest.json, and the writer for
 * all three outputs (JSON, Markdown, SVG). The JSON keeps every raw cell as
 * well as the medians, so a figure can always be traced to its runs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchArgs } from './args.ts';
import type { LayerCost } from './layers.ts';
import type { Machine } from './machine.ts';
import { renderMarkdown } from './markdown.ts';
import type { CellResult, Phases } from './measure.ts';
import type { Figure, MetricDef } from './metrics.ts';
import { renderSvg } from './svg.ts';

export interface TargetInfo {
  readonly name: string;
  /** A name can have an http1 and a grpc build; each is listed. */
  readonly kind: 'http1' | 'grpc';
  readonly description: string;
  /** The scenarios this build runs in. */
  readonly scenarios: readonly string[];
  readonly available: boolean;
  readonly error?: string;
  readonly handshakeNote?: string;
}

export interface ScenarioInfo {
  readonly name: string;
  readonly kind: 'http1' | 'grpc';
  readonly description: string;
  readonly path: string;
  readonly bodyBytes: number;
  readonly rates: readonly number[];
  readonly handshake: boolean;
  /** Measured side by side in interleaved slices (lib/interleave.ts). */
  readonly interleave?: boolean;
  /** Phase lengths used (the flags', or the scenario's own). */
  readonly phases?: Phases;
  readonly metrics: readonly MetricDef[];
}

export interface RawCell {
  readonly run: number;
  readonly target: string;
  readonly scenario: string;
  readonly cell?: CellResult;
  readonly error?: string;
}

export interface Report {
  readonly generatedAt: string;
  readonly durationSec: number;
  readonly machine: Machine;
  readonly settings: Omit<BenchArgs, 'help' | 'outDir' | 'keep'>;
  readonly scenarios: readonly ScenarioInfo[];
  readonly targets: readonly TargetInfo[];
  /** scenario → target → metric key → figure (median of runs, with ratios). */
  readonly figures: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, Figure>>>>>>;
  /** The `layers` scenario's per-layer cost (with − without, per run, median), when it ran. */
  readonly layerCosts?: readonly LayerCost[];
  readonly raw: readonly RawCell[];
}

export function writeReport(outDir: string, report: Report): string[] {
  mkdirSync(outDir, { recursive: true });
  const files = [join(outDir, 'latest.json'), join(outDir, 'latest.md'), join(outDir, 'latest.svg')];
  const json = JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
  writeFileSync(files[0] as string, `${json}\n`);
  writeFileSync(files[1] as string, renderMarkdown(report, 'latest.svg'));
  writeFileSync(files[2] as string, renderSvg(report));
  return files;
}
