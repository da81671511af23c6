/**
 * The catalog watch's names (catalog-watch.ts): one state per listed service,
 * brought in line with each listing, and the watch slots given out to them.
 */
import type { CatalogInstance } from './catalog-queries.ts';

export interface NameState {
  readonly name: string;
  instances: readonly CatalogInstance[] | undefined;
  print: string;
  /** Set while the name holds a blocking query of its own. */
  watch: AbortController | undefined;
}

/** Drop the names a listing no longer has (their watches aborted) and add its new ones; true when the set changed. */
export function reconcileNames(states: Map<string, NameState>, listed: readonly string[]): boolean {
  const now = new Set(listed);
  let changed = false;
  for (const [n, s] of states) {
    if (now.has(n)) continue;
    s.watch?.abort();
    states.delete(n);
    changed = true;
  }
  for (const n of listed) {
    if (states.has(n)) continue;
    states.set(n, { name: n, instances: undefined, print: '', watch: undefined });
    changed = true;
  }
  return changed;
}

/** Give free watch slots (at most `maxWatches` watched names) to swept names, in order; `start` runs each new watch. */
export function assignWatches(states: ReadonlyMap<string, NameState>, maxWatches: number, start: (s: NameState, watch: AbortController) => void): void {
  let watched = 0;
  for (const s of states.values()) if (s.watch) watched++;
  for (const s of states.values()) {
    if (watched >= maxWatches) return;
    if (s.watch) continue;
    s.watch = new AbortController();
    watched++;
    start(s, s.watch);
  }
}
