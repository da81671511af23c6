/**
 * Go `time.Duration` parsing and printing, as Consul does it on the wire.
 *
 * Consul parses `?wait=`, check `TTL`/`Interval`/`Timeout`,
 * `DeregisterCriticalServiceAfter` and session `TTL` with Go's
 * `time.ParseDuration` (units required except for a bare "0"), and prints
 * durations with `Duration.String()` ("30s", "1m0s", "72h0m0s", "200ms").
 */

const UNITS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
};

/** Parse a Go duration into milliseconds; undefined when Go would reject it. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  if (s === '') return undefined;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') { if (s[0] === '-') sign = -1; s = s.slice(1); }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) return undefined;
    s = s.slice(m[0].length);
    const u = /^(ns|us|µs|μs|ms|s|m|h)/.exec(s);
    if (!u) return undefined;
    s = s.slice(u[0].length);
    const value = Number(`${m[1] || '0'}.${m[2] ?? '0'}`);
    total += value * UNITS[u[0]]!;
  }
  return sign * total;
}

/** Accept a Go duration string or a number of nanoseconds (Consul's JSON decoder accepts both). */
export function durationField(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return v / 1e6;
  if (typeof v === 'string') return parseGoDuration(v);
  return undefined;
}

/** Go's Duration.String() for a millisecond value. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = `${trimFloat(rest)}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000); rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000); rest -= m * 60_000;
    const sec = `${trimFloat(rest / 1000)}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

function trimFloat(n: number): string {
  return String(Math.round(n * 1e6) / 1e6);
}
