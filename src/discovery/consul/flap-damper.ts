/**
 * Flap damping for discovery (pure, injectable time): an instance that left
 * the healthy set is removed at once, but it is re-admitted only after it has
 * stayed healthy for `holddownMs`. Instances never seen before, or gone for
 * longer than `windowMs`, are admitted at once. A flapping instance therefore
 * stays out instead of churning the balancer's endpoint set on every flap.
 */

export interface DampResult {
  readonly admitted: ReadonlySet<string>;
  /** When a held-down instance becomes admissible (recompute then), if any. */
  readonly recheckAt: number | undefined;
}

export class FlapDamper {
  readonly #holddownMs: number;
  readonly #windowMs: number;
  /** key → when it last left the admitted set (or flapped out while held down) */
  readonly #removedAt = new Map<string, number>();
  /** key → since when it is continuously healthy while held down */
  readonly #healthySince = new Map<string, number>();
  #current = new Set<string>();

  constructor(holddownMs: number, windowMs = Math.max(60_000, holddownMs * 10)) {
    this.#holddownMs = holddownMs;
    this.#windowMs = windowMs;
  }

  apply(healthy: Iterable<string>, now: number): DampResult {
    const h = new Set(healthy);
    for (const k of this.#current) if (!h.has(k)) this.#removedAt.set(k, now);
    for (const k of [...this.#healthySince.keys()]) {
      if (!h.has(k)) { this.#healthySince.delete(k); this.#removedAt.set(k, now); }
    }
    const admitted = new Set<string>();
    let recheckAt: number | undefined;
    for (const k of h) {
      const removed = this.#removedAt.get(k);
      if (this.#current.has(k) || this.#holddownMs <= 0 || removed === undefined || now - removed > this.#windowMs) {
        admitted.add(k);
        this.#removedAt.delete(k);
        this.#healthySince.delete(k);
        continue;
      }
      let since = this.#healthySince.get(k);
      if (since === undefined) { since = now; this.#healthySince.set(k, now); }
      if (now - since >= this.#holddownMs) {
        admitted.add(k);
        this.#removedAt.delete(k);
        this.#healthySince.delete(k);
      } else {
        const at = since + this.#holddownMs;
        recheckAt = recheckAt === undefined ? at : Math.min(recheckAt, at);
      }
    }
    for (const [k, t] of this.#removedAt) if (!h.has(k) && now - t > this.#windowMs) this.#removedAt.delete(k);
    this.#current = admitted;
    return { admitted, recheckAt };
  }
}
