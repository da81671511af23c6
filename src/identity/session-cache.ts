/**
 * TLS session cache for outbound agent connections, keyed by endpoint and the
 * SPIFFE ID expected there (so a session made for one identity is never
 * offered where another is expected). Bounded LRU.
 *
 * A session is only worth offering while both certificates in it are good:
 * an entry expires at the earlier of its lifetime (the server's ticket
 * lifetime) and the server leaf's notAfter, and the whole cache is cleared
 * when our own leaf rotates, because a resumed session would present the old
 * client certificate.
 */
export class SessionCache {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { session: Buffer; expiresAt: number; peerNotAfter: number }>();
  readonly stats = { hits: 0, misses: 0 };

  constructor(max = 256, ttlMs = 300_000) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('session cache size must be a positive integer');
    this.#max = max;
    this.#ttlMs = ttlMs;
  }

  get(key: string, now: number): Buffer | undefined {
    const e = this.#entries.get(key);
    if (e === undefined || e.expiresAt <= now) {
      if (e !== undefined) this.#entries.delete(key);
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return e.session;
  }

  /** Remember `session`; `peerNotAfter` is the server leaf's expiry (epoch ms). */
  set(key: string, session: Buffer, now: number, peerNotAfter: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { session, peerNotAfter, expiresAt: Math.min(now + this.#ttlMs, peerNotAfter - 1000) });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** The server leaf's notAfter recorded with the session under `key` (a resumed handshake carries no certificate). */
  peerNotAfter(key: string): number | undefined {
    return this.#entries.get(key)?.peerNotAfter;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
