/**
 * The live set of endpoints of one upstream, fed by discovery.
 *
 * `apply(update)` diffs a full set from a resolver against the current one,
 * like undici's BalancedPool addUpstream/removeUpstream: endpoints that remain
 * keep their object (and so their EWMA, breaker and in-flight requests);
 * removed ones are marked not live and dropped from the array; listeners are
 * told which keys were removed (to close their idle connection pools).
 *
 * `list` is a plain array rebuilt only on change, so per-request work never
 * scans the whole registry: it is O(endpoints of this upstream).
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { endpointKey, type EndpointSpec } from '../discovery/types.ts';
import { Endpoint } from './endpoint.ts';

export interface EndpointSetChange {
  readonly added: readonly Endpoint[];
  readonly removed: readonly Endpoint[];
}

export class EndpointSet {
  readonly service: string;
  #byKey = new Map<string, Endpoint>();
  /** Current endpoints, in discovery order. Replaced (not mutated) on change. */
  list: readonly Endpoint[] = [];
  /** Bumped on every change; balancers rebuild derived tables when it moves. */
  version = 0;
  synced = false;
  source = '';
  #clock: Clock;
  #listeners: Array<(c: EndpointSetChange) => void> = [];

  constructor(service: string, clock: Clock = systemClock) {
    this.service = service;
    this.#clock = clock;
  }

  get(key: string): Endpoint | undefined {
    return this.#byKey.get(key);
  }

  onChange(fn: (c: EndpointSetChange) => void): void {
    this.#listeners.push(fn);
  }

  apply(specs: readonly EndpointSpec[], source = ''): EndpointSetChange {
    const now = this.#clock.now();
    const next = new Map<string, Endpoint>();
    const added: Endpoint[] = [];
    for (const spec of specs) {
      const key = endpointKey(spec);
      if (next.has(key)) continue; // duplicate instance entry: first wins
      let ep = this.#byKey.get(key);
      if (ep) ep.spec = spec;
      else { ep = new Endpoint(spec, now, this.service); added.push(ep); }
      next.set(key, ep);
    }
    const removed: Endpoint[] = [];
    for (const [key, ep] of this.#byKey) {
      if (!next.has(key)) { ep.live = false; removed.push(ep); }
    }
    this.#byKey = next;
    this.list = [...next.values()];
    this.version++;
    this.synced = true;
    this.source = source;
    const change = { added, removed };
    for (const fn of this.#listeners) fn(change);
    return change;
  }
}
