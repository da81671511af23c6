/**
 * Blocking queries (Consul `agent/blockingquery`, docs features/blocking.mdx).
 *
 * - `?index` absent or 0: answer at once.
 * - `?index=n`: if the data's index is already above n, answer at once; else
 *   hold the request until a write makes it rise above n, or until the wait
 *   ends, then answer with the current data (maybe unchanged).
 * - `?wait`: Go duration, default 5m, capped at 10m; Consul adds a random
 *   extra of up to wait/16 (`jitter` option). Bad `wait` → 400
 *   `Invalid wait time`; bad `index` → 400 `Invalid index`.
 * - A requested index above the store's (after an index reset) simply blocks
 *   until the wait ends and then returns the lower index.
 */
import { parseGoDuration } from './duration.ts';
import { badRequest, type Reply, type Req } from './http.ts';
import type { ConsulStore } from './store.ts';

export const DEFAULT_WAIT_MS = 5 * 60_000;
export const MAX_WAIT_MS = 10 * 60_000;

export interface BlockingSettings {
  /** Add Consul's random extra of up to wait/16. */
  jitter: boolean;
  /** Cap for ?wait (Consul: 10m). */
  maxWaitMs: number;
}

export interface WaitParams { minIndex: number; waitMs: number }

/** Parse ?index and ?wait; 400 with Consul's texts. */
export function waitParams(req: Req, settings: BlockingSettings): WaitParams {
  let waitMs = DEFAULT_WAIT_MS;
  const w = req.get('wait');
  if (w !== undefined && w !== '') {
    const ms = parseGoDuration(w);
    if (ms === undefined) throw badRequest('Invalid wait time');
    waitMs = ms;
  }
  if (waitMs > settings.maxWaitMs) waitMs = settings.maxWaitMs;
  if (waitMs <= 0) waitMs = DEFAULT_WAIT_MS;
  let minIndex = 0;
  const i = req.get('index');
  if (i !== undefined && i !== '') {
    if (!/^\d+$/.test(i) || BigInt(i) > 18446744073709551615n) throw badRequest('Invalid index');
    minIndex = Number(i);
  }
  if (settings.jitter) waitMs += Math.random() * (waitMs / 16);
  return { minIndex, waitMs };
}

export type Evaluate = () => Reply & { meta: NonNullable<Reply['meta']> };

/** Run `evaluate` now, and again after each store change, until its index passes ?index or the wait ends. */
export function blockingQuery(req: Req, store: ConsulStore, settings: BlockingSettings, evaluate: Evaluate): Promise<Reply> {
  const { minIndex, waitMs } = waitParams(req, settings);
  const first = evaluate();
  if (minIndex === 0 || first.meta.index > minIndex) return Promise.resolve(first);
  return new Promise<Reply>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      req.signal.removeEventListener('abort', onAbort);
      fn();
    };
    const attempt = (force: boolean): void => {
      try {
        const r = evaluate();
        if (force || r.meta.index > minIndex) finish(() => resolve(r));
      } catch (e) {
        finish(() => reject(e));
      }
    };
    const onAbort = (): void => finish(() => reject(new Error('client went away')));
    const unsubscribe = store.onChange(() => attempt(false));
    const timer = setTimeout(() => attempt(true), waitMs);
    req.signal.addEventListener('abort', onAbort);
  });
}
