/**
 * `ring_hash`: consistent hashing for stickiness (Envoy RING_HASH, Ketama).
 *
 * Every endpoint owns `vnodes × weight` points on a 32-bit ring, each at
 * murmur3("<endpoint key>#<i>"). A request hashes its key (a header, a
 * cookie or the source address) and goes to the owner of the first point at
 * or after that hash. Because an endpoint's points depend only on its own key
 * and weight, removing one endpoint moves only the keys it owned (≈ 1/N);
 * every other key stays where it was.
 *
 * The ring (two typed arrays, sorted) is rebuilt only when the set's
 * `version` moves; a pick is a binary search, O(log n), allocation-free (the
 * header or cookie value is hashed in place). If the owner is unavailable or
 * is the excluded endpoint (a retry), the walk continues clockwise to the
 * next usable owner, so retries are deterministic too. A request without the
 * key gets a random point (Envoy does the same).
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { RequestCtx } from '../core/filter.ts';
import type { Endpoint } from './endpoint.ts';
import type { EndpointSet } from './endpoint-set.ts';
import { murmur3 } from './murmur3.ts';
import { mathRandom, type Rng } from './rng.ts';
import type { Balancer } from './types.ts';

export type HashOn =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'source_ip' };

export interface RingHashOptions {
  readonly hashOn: HashOn;
  /** Points per unit of weight (Ketama uses 160). */
  readonly vnodes?: number;
  /** Upper bound on the ring size; weights are scaled down beyond it. */
  readonly maxRingSize?: number;
  readonly clock?: Clock;
  readonly rng?: Rng;
}

export class RingHash implements Balancer {
  readonly kind = 'ring_hash';
  readonly #set: EndpointSet;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #hashOn: HashOn;
  readonly #headerName: string;
  readonly #vnodes: number;
  readonly #maxRing: number;
  #version = -1;
  #hashes = new Uint32Array(0);
  #owners = new Int32Array(0);
  #endpoints: readonly Endpoint[] = [];
  /** How many times the ring was built (tests check it is not rebuilt per pick). */
  builds = 0;

  constructor(set: EndpointSet, opts: RingHashOptions) {
    this.#set = set;
    this.#clock = opts.clock ?? systemClock;
    this.#rng = opts.rng ?? mathRandom;
    this.#hashOn = opts.hashOn;
    this.#headerName = opts.hashOn.kind === 'header' ? opts.hashOn.name.toLowerCase() : '';
    this.#vnodes = opts.vnodes ?? 160;
    this.#maxRing = opts.maxRingSize ?? 1 << 20;
    if (!(Number.isInteger(this.#vnodes) && this.#vnodes >= 1)) throw new RangeError('ring_hash vnodes must be an integer >= 1');
    if (!(this.#maxRing >= 1)) throw new RangeError('ring_hash max_ring_size must be >= 1');
  }

  pick(ctx: RequestCtx, exclude: Endpoint | undefined): Endpoint | undefined {
    if (this.#version !== this.#set.version) this.#rebuild();
    return this.pickByHash(this.hashOf(ctx), exclude);
  }

  /** The request's hash: of its key when present, else random. */
  hashOf(ctx: RequestCtx): number {
    const on = this.#hashOn;
    if (on.kind === 'header') {
      const h = ctx.headers;
      for (let i = 0; i < h.length; i += 2) if (h[i] === this.#headerName) return murmur3(h[i + 1]!);
    } else if (on.kind === 'cookie') {
      const h = cookieHash(ctx.headers, on.name);
      if (h >= 0) return h;
    } else if (ctx.remoteAddress !== '') {
      return murmur3(ctx.remoteAddress);
    }
    return (this.#rng() * 4294967296) >>> 0;
  }

  /** Owner of the first point at or after `hash`, walking past unusable ones. */
  pickByHash(hash: number, exclude: Endpoint | undefined): Endpoint | undefined {
    if (this.#version !== this.#set.version) this.#rebuild();
    const hashes = this.#hashes;
    const size = hashes.length;
    if (size === 0) return undefined;
    // Binary search: first index with hashes[i] >= hash (wraps to 0).
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid]! < hash) lo = mid + 1; else hi = mid;
    }
    const now = this.#clock.now();
    const eps = this.#endpoints;
    let fallback: Endpoint | undefined;
    for (let k = 0; k < size; k++) {
      const ep = eps[this.#owners[(lo + k) % size]!]!;
      if (!ep.available(now)) continue;
      if (ep !== exclude) return ep;
      fallback = ep;
    }
    return fallback;
  }

  get ringSize(): number {
    return this.#hashes.length;
  }

  #rebuild(): void {
    const list = this.#set.list;
    let total = 0;
    for (const ep of list) total += this.#vnodes * Math.max(ep.spec.weight, 1);
    const scale = total > this.#maxRing ? this.#maxRing / total : 1;
    const points: Array<{ h: number; owner: number; key: string }> = [];
    list.forEach((ep, owner) => {
      const replicas = Math.max(1, Math.round(this.#vnodes * Math.max(ep.spec.weight, 1) * scale));
      for (let i = 0; i < replicas; i++) points.push({ h: murmur3(`${ep.key}#${i}`), owner, key: ep.key });
    });
    // Ties (hash collisions) are broken by endpoint key so every agent builds the same ring.
    points.sort((a, b) => a.h - b.h || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.#hashes = Uint32Array.from(points, (p) => p.h);
    this.#owners = Int32Array.from(points, (p) => p.owner);
    this.#endpoints = list;
    this.#version = this.#set.version;
    this.builds++;
  }
}

/**
 * murmur3 of cookie `name`'s value across the request's cookie headers
 * (HTTP/2 may split them), hashed in place; −1 when absent.
 */
export function cookieHash(headers: readonly string[], name: string): number {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    const v = headers[i + 1]!;
    let from = 0;
    for (;;) {
      const at = v.indexOf(name, from);
      if (at < 0) break;
      from = at + 1;
      const eq = at + name.length;
      if (v.charCodeAt(eq) !== 61 /* = */) continue;
      // Must start a cookie-pair: at the beginning or after ';' and optional spaces.
      let p = at - 1;
      while (p >= 0 && v.charCodeAt(p) === 32) p--;
      if (p >= 0 && v.charCodeAt(p) !== 59 /* ; */) continue;
      let end = v.indexOf(';', eq + 1);
      if (end < 0) end = v.length;
      return murmur3(v, eq + 1, end);
    }
  }
  return -1;
}
