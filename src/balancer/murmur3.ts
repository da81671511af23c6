/**
 * MurmurHash3 (x86, 32-bit) over the UTF-16 code units of a string range.
 *
 * Used by the ring-hash balancer: fast, well distributed, and it hashes a
 * slice of a header value in place (`start`, `end`) so the hot path never
 * allocates a substring just to hash it.
 */
export function murmur3(s: string, start = 0, end = s.length, seed = 0): number {
  let h = seed >>> 0;
  let i = start;
  // Two UTF-16 code units make one 32-bit block.
  for (; i + 1 < end; i += 2) {
    let k = (s.charCodeAt(i) & 0xffff) | ((s.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < end) {
    let k = s.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= (end - start) * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
