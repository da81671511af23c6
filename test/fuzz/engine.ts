/**
 * A small coverage-guided mutational fuzzer for our pure parsers, in the
 * process and with no native parts (Jazzer.js ships native prebuilds and
 * jsfuzz is unmaintained).
 *
 * Coverage comes from V8 itself: `node:inspector`'s Profiler precise
 * coverage in block mode with call counts (the same data c8 uses). After
 * each run of the target, `takePreciseCoverage` returns — and resets — the
 * block counters; each (function, block range, hit-count bucket) of the
 * target's own source files is a feature, AFL style (buckets 1, 2, 3, 4-7,
 * 8-15, 16-31, 32-127, 128+). An input that shows a new feature joins the
 * corpus; mutations start from corpus entries.
 *
 * A target throws `Crash` (or anything unexpected) when an invariant breaks:
 * the input is a crasher. Crashers are saved under the target's corpus
 * directory, which is committed: every later run replays them first, so a
 * fixed bug stays fixed.
 */
import { Session } from 'node:inspector';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class Crash extends Error {}

export interface FuzzTarget {
  readonly name: string;
  /** Source files whose blocks count as coverage (substring of the script URL). */
  readonly covers: readonly string[];
  /** Seed inputs (besides the corpus directory). */
  readonly seeds: readonly Buffer[];
  /** Tokens the mutator splices in. */
  readonly dictionary: readonly string[];
  /** Run one input; throw to report a crash. */
  run(input: Buffer): void;
  readonly maxLen?: number;
}

export interface FuzzResult {
  readonly target: string;
  readonly execs: number;
  readonly corpus: number;
  readonly features: number;
  readonly crashes: Array<{ input: Buffer; error: string; file?: string }>;
  readonly replayed: number;
}

/** A tiny deterministic PRNG (xorshift32), so a run is reproducible from its seed. */
export class Rng {
  #s: number;
  constructor(seed: number) { this.#s = (seed >>> 0) || 0x9e3779b9; }
  next(): number { let x = this.#s; x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; this.#s = x; return x; }
  below(n: number): number { return n <= 0 ? 0 : this.next() % n; }
  chance(p: number): boolean { return (this.next() / 0x100000000) < p; }
}

const INTERESTING = [0, 9, 10, 13, 32, 34, 44, 48, 57, 58, 59, 61, 65, 70, 97, 102, 127, 128, 255];

/** One random mutation (a few stacked) of `input`, maybe spliced with `other`. */
export function mutate(input: Buffer, other: Buffer, dict: readonly string[], rng: Rng, maxLen: number): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.below(b.length + 1);
    switch (rng.below(9)) {
      case 0: if (b.length) { const i = rng.below(b.length); b[i] = b[i]! ^ (1 << rng.below(8)); } break;
      case 1: if (b.length) b[rng.below(b.length)] = INTERESTING[rng.below(INTERESTING.length)]!; break;
      case 2: if (b.length) b[rng.below(b.length)] = rng.below(256); break;
      case 3: { const n = 1 + rng.below(Math.min(16, b.length || 1)); b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + n))]); break; }
      case 4: { const tok = Buffer.from(dict[rng.below(dict.length)] ?? '\r\n', 'latin1'); b = Buffer.concat([b.subarray(0, at), tok, b.subarray(at)]); break; }
      case 5: { const n = 1 + rng.below(Math.min(32, b.length || 1)); const s = rng.below(b.length + 1); const piece = b.subarray(s, s + n); b = Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]); break; }
      case 6: if (other.length) { const s = rng.below(other.length); const n = 1 + rng.below(other.length - s); b = Buffer.concat([b.subarray(0, at), other.subarray(s, s + n)]); } break;
      case 7: { const n = 1 + rng.below(8); b = Buffer.concat([b.subarray(0, at), Buffer.alloc(n, INTERESTING[rng.below(INTERESTING.length)]!), b.subarray(at)]); break; }
      default: { // a number somewhere: replace a digit run with an edge value
        const edges = ['0', '-1', '00', '4294967296', '18446744073709551616', '999999999999999', 'ffffffffffffffff', '1e3', '0x10', ' 1', '1 '];
        const tok = Buffer.from(edges[rng.below(edges.length)]!, 'latin1');
        b = Buffer.concat([b.subarray(0, at), tok, b.subarray(Math.min(b.length, at + rng.below(4)))]);
      }
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

function bucket(n: number): number {
  return n <= 3 ? n : n < 8 ? 4 : n < 16 ? 5 : n < 32 ? 6 : n < 128 ? 7 : 8;
}

interface CoverageRange { startOffset: number; endOffset: number; count: number }
interface CoverageFn { functionName: string; ranges: CoverageRange[] }
interface CoverageScript { url: string; functions: CoverageFn[] }

/** Block coverage through the inspector; `features()` returns those seen since the last call. */
export class Coverage {
  readonly #s = new Session();
  readonly #covers: readonly string[];

  constructor(covers: readonly string[]) {
    this.#covers = covers;
    this.#s.connect();
    this.#post('Profiler.enable');
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  #post(method: string, params?: object): unknown {
    let out: unknown;
    let error: Error | null = null;
    // In-process sessions answer synchronously.
    this.#s.post(method, params ?? {}, (err: Error | null, res: unknown) => { error = err; out = res; });
    if (error) throw error;
    return out;
  }

  features(into: Set<string>): number {
    const r = this.#post('Profiler.takePreciseCoverage') as { result: CoverageScript[] };
    let fresh = 0;
    for (const script of r.result) {
      if (!this.#covers.some((c) => script.url.includes(c))) continue;
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          if (range.count === 0) continue;
          const k = `${script.url}|${range.startOffset}|${range.endOffset}|${bucket(range.count)}`;
          if (!into.has(k)) { into.add(k); fresh++; }
        }
      }
    }
    return fresh;
  }

  close(): void {
    // Under NODE_V8_COVERAGE (tap's coverage) Node collects too: leave its profiler running.
    if (process.env.NODE_V8_COVERAGE === undefined) {
      this.#post('Profiler.stopPreciseCoverage');
      this.#post('Profiler.disable');
    }
    this.#s.disconnect();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Inputs saved in a corpus directory (every file is one input). */
export function loadCorpus(dir: string): Array<{ file: string; input: Buffer }> {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  return names.filter((n) => !n.startsWith('.') && !n.endsWith('.md')).sort().map((n) => ({ file: join(dir, n), input: readFileSync(join(dir, n)) }));
}

export interface FuzzOptions {
  readonly ms: number;
  readonly seed: number;
  /** Where the committed corpus (and crashers) of this target live. */
  readonly corpusDir: string;
  /** Save new crashers to corpusDir (and, with saveCoverage, inputs that found new coverage). */
  readonly saveCrashes: boolean;
  readonly saveCoverage?: boolean;
  readonly onProgress?: (r: { execs: number; corpus: number; features: number }) => void;
}

export function fuzz(target: FuzzTarget, o: FuzzOptions): FuzzResult {
  const maxLen = target.maxLen ?? 4096;
  const rng = new Rng(o.seed);
  const features = new Set<string>();
  const cov = new Coverage(target.covers);
  const corpus: Buffer[] = [];
  const crashes: FuzzResult['crashes'] = [];
  const seen = new Set<string>();
  const hash = (b: Buffer): string => createHash('sha1').update(b).digest('hex').slice(0, 16);
  const exec = (input: Buffer): boolean => {
    try {
      target.run(input);
    } catch (err) {
      const h = hash(input);
      if (!seen.has(h)) {
        seen.add(h);
        let file: string | undefined;
        if (o.saveCrashes) { mkdirSync(o.corpusDir, { recursive: true }); file = join(o.corpusDir, `crash-${h}`); writeFileSync(file, input); }
        crashes.push({ input, error: describe(err), file });
      }
      cov.features(features);
      return false;
    }
    return cov.features(features) > 0;
  };
  let replayed = 0;
  try {
    // Replay: committed corpus (past crashers first among them) and seeds.
    for (const { input } of loadCorpus(o.corpusDir)) { replayed++; if (exec(input)) corpus.push(input); else if (!corpus.length) corpus.push(input); }
    for (const s of target.seeds) if (exec(s) || corpus.length === 0) corpus.push(s);
    if (corpus.length === 0) corpus.push(Buffer.alloc(0));
    const end = performance.now() + o.ms;
    let execs = replayed + target.seeds.length;
    let nextReport = performance.now() + 1000;
    while (performance.now() < end) {
      const base = corpus[rng.below(corpus.length)]!;
      const other = corpus[rng.below(corpus.length)]!;
      const input = mutate(base, other, target.dictionary, rng, maxLen);
      execs++;
      if (exec(input)) {
        corpus.push(input);
        if (o.saveCoverage) { mkdirSync(o.corpusDir, { recursive: true }); writeFileSync(join(o.corpusDir, `cov-${hash(input)}`), input); }
      }
      if (o.onProgress && performance.now() > nextReport) { nextReport += 1000; o.onProgress({ execs, corpus: corpus.length, features: features.size }); }
    }
    return { target: target.name, execs, corpus: corpus.length, features: features.size, crashes, replayed };
  } finally {
    cov.close();
  }
}
