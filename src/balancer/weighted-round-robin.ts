/**
 * Smooth weighted round robin by `spec.weight` (Consul Weights.Passing,
 * registry `weight`), as an earliest-deadline-first schedule (Envoy's
 * `EdfScheduler`): every endpoint has a virtual deadline; a pick takes the
 * earliest and pushes it back by 1/weight. Over time each endpoint gets
 * picks in proportion to its weight, interleaved rather than in runs
 * (weights 2:1 give A B A A B A…, not A A B A A B).
 *
 * O(log n) per pick with a binary heap. Unavailable endpoints (critical,
 * ejected, breaker open) and the `exclude`d one are popped, pushed back as
 * if picked (so one coming back from an ejection does not get a burst), and
 * reinserted after the pick: each endpoint is looked at most once per pick.
 * The heap is rebuilt only when the set's `version` moves. The effective
 * weight is `spec.weight × slowStart.factor` at the moment it is re-queued,
 * so slow start needs no rebuilds. No allocation per pick.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { RequestCtx } from '../core/filter.ts';
import type { Endpoint } from './endpoint.ts';
import type { EndpointSet } from './endpoint-set.ts';
import { mathRandom, type Rng } from './rng.ts';
import type { SlowStart } from './slow-start.ts';
import type { Balancer } from './types.ts';

export interface WeightedRoundRobinOptions {
  readonly clock?: Clock;
  /** Chooses the starting offset so agents do not all start on the same endpoint. */
  readonly rng?: Rng;
  readonly slowStart?: SlowStart;
}

interface Entry {
  ep: Endpoint;
  deadline: number;
  seq: number;
}

export class WeightedRoundRobin implements Balancer {
  readonly kind: string = 'round_robin';
  readonly #set: EndpointSet;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #slowStart: SlowStart | undefined;
  #version = -1;
  #heap: Entry[] = [];
  #scratch: Entry[] = [];
  #seq = 0;

  constructor(set: EndpointSet, opts: WeightedRoundRobinOptions = {}) {
    this.#set = set;
    this.#clock = opts.clock ?? systemClock;
    this.#rng = opts.rng ?? mathRandom;
    this.#slowStart = opts.slowStart;
  }

  pick(_ctx: RequestCtx, exclude: Endpoint | undefined): Endpoint | undefined {
    if (this.#version !== this.#set.version) this.#rebuild();
    const heap = this.#heap;
    if (heap.length === 0) return undefined;
    const now = this.#clock.now();
    const scratch = this.#scratch;
    let held = 0;
    let chosen: Entry | undefined;
    let fallback: Entry | undefined;
    while (heap.length > 0) {
      const top = heap[0]!;
      const ep = top.ep;
      const usable = ep.available(now);
      if (usable && ep !== exclude) { chosen = top; break; }
      // Skip: take it out for the rest of this pick, as if it had been picked.
      this.#popTop();
      top.deadline += 1 / this.#weight(ep, now);
      top.seq = this.#seq++;
      scratch[held++] = top;
      if (usable) fallback = top;
    }
    if (chosen) {
      chosen.deadline += 1 / this.#weight(chosen.ep, now);
      chosen.seq = this.#seq++;
      this.#siftDown(0);
    }
    for (let i = 0; i < held; i++) this.#push(scratch[i]!);
    return chosen ? chosen.ep : fallback?.ep;
  }

  /** For /explain: the share of picks an endpoint gets now (weight over total), as a score (lower is better). */
  score(ep: Endpoint): number {
    const now = this.#clock.now();
    return 1 / this.#weight(ep, now);
  }

  #weight(ep: Endpoint, now: number): number {
    const w = ep.spec.weight > 0 ? ep.spec.weight : 1;
    const f = this.#slowStart ? this.#slowStart.factor(ep, now) : 1;
    return w * f;
  }

  #rebuild(): void {
    const list = this.#set.list;
    const n = list.length;
    const now = this.#clock.now();
    const offset = n > 0 ? Math.floor(this.#rng() * n) : 0;
    this.#heap = [];
    this.#scratch = new Array<Entry>(n);
    this.#seq = 0;
    for (let i = 0; i < n; i++) {
      const ep = list[(offset + i) % n]!;
      this.#push({ ep, deadline: 1 / this.#weight(ep, now), seq: this.#seq++ });
    }
    this.#version = this.#set.version;
  }

  // === binary min-heap on (deadline, seq) ===

  /** Deadlines within 1e-9 are ties (sums of 1/w drift), broken FIFO by seq. */
  #less(a: Entry, b: Entry): boolean {
    const d = a.deadline - b.deadline;
    return d < -1e-9 || (d <= 1e-9 && a.seq < b.seq);
  }

  #push(e: Entry): void {
    const heap = this.#heap;
    heap.push(e);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(heap[i]!, heap[p]!)) break;
      const t = heap[i]!; heap[i] = heap[p]!; heap[p] = t;
      i = p;
    }
  }

  #popTop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length > 0) { heap[0] = last; this.#siftDown(0); }
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && this.#less(heap[r]!, heap[l]!) ? r : l;
      if (!this.#less(heap[c]!, heap[i]!)) return;
      const t = heap[i]!; heap[i] = heap[c]!; heap[c] = t;
      i = c;
    }
  }
}
