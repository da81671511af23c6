/**
 * What the outbound capture listener did with the connections it accepted:
 * the `transparent_capture_total{result}` counter on the agent's registry,
 * the same counts for /explain, the last non-mesh destinations (bounded), and
 * a first-seen test so that non-mesh destinations are logged loudly once each
 * rather than on every connection.
 */
import { Counter, type Registry } from 'prom-client';

export type CaptureResult = 'mesh' | 'passthrough' | 'passthrough_failed' | 'blocked' | 'no_original_dst' | 'loop';

export interface NonMeshRecord {
  readonly at: string;
  readonly destination: string;
  readonly result: CaptureResult;
  readonly why: string;
}

const RECENT = 20;
const SEEN = 1000;

/** The counter on a registry (created once per registry). */
export function captureCounter(registry: Registry): Counter<'result'> {
  const name = 'transparent_capture_total';
  return (registry.getSingleMetric(name) as Counter<'result'> | undefined) ?? new Counter({ name, registers: [registry], labelNames: ['result'],
    help: 'Connections accepted by the transparent capture listener, by result (mesh|passthrough|passthrough_failed|blocked|no_original_dst|loop)' });
}

export class CaptureStats {
  readonly #counter: Counter<'result'>;
  readonly counts: Partial<Record<CaptureResult, number>> = {};
  readonly recent: NonMeshRecord[] = [];
  readonly #seen = new Set<string>();

  constructor(registry: Registry) {
    this.#counter = captureCounter(registry);
  }

  /** Count a connection; non-mesh ones (with their destination) also go to `recent`. */
  count(result: CaptureResult, destination?: string, why = ''): void {
    this.#counter.inc({ result });
    this.counts[result] = (this.counts[result] ?? 0) + 1;
    if (destination === undefined || result === 'mesh') return;
    this.recent.push({ at: new Date().toISOString(), destination, result, why });
    if (this.recent.length > RECENT) this.recent.shift();
  }

  /** True the first time a destination is seen (the set is bounded: it forgets everything at SEEN entries). */
  firstTime(destination: string): boolean {
    if (this.#seen.has(destination)) return false;
    if (this.#seen.size >= SEEN) this.#seen.clear();
    this.#seen.add(destination);
    return true;
  }
}
