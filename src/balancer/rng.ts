/**
 * The random source balancers, backoff and fault injection draw from.
 *
 * Injected (never `Math.random` called directly inside an algorithm) so unit
 * tests and simulations are deterministic: pass `seededRng(n)`.
 */

/** Returns a float in [0, 1). */
export type Rng = () => number;

export const mathRandom: Rng = Math.random;

/**
 * mulberry32: a tiny, fast, seeded 32-bit PRNG. Good enough for load
 * spreading and simulations; not for anything security-related.
 */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
