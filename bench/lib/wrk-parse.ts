/**
 * Parser for the text report of `wrk` 4.x (Debian's package), closed-loop max
 * throughput. Pure: wrk.ts runs the binary and hands the text here. wrk prints
 * times as us/ms/s/m/h and sizes with binary units (KB = 1024 B).
 */

export interface WrkResult {
  readonly requests: number;
  readonly durationSec: number;
  readonly bytesRead: number;
  readonly requestsPerSec: number;
  readonly transferPerSec: number;
  readonly latencyMs: { readonly avg: number; readonly stdev: number; readonly max: number };
  /** From `--latency`: percentile (50, 75, 90, 99) → ms. */
  readonly distributionMs: Readonly<Record<string, number>>;
  readonly socketErrors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number };
  readonly non2xx3xx: number;
}

const TIME_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
const SIZE_B: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** "412.31us" → 0.41231 (ms). */
export function parseWrkTime(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new Error(`wrk: cannot read time '${s}'`);
  return Number(m[1]) * (TIME_MS[m[2] as string] as number);
}

/** "60.12MB" → bytes. */
export function parseWrkSize(s: string): number {
  const m = /^([\d.]+)(B|KB|MB|GB|TB)$/.exec(s.trim());
  if (!m) throw new Error(`wrk: cannot read size '${s}'`);
  return Number(m[1]) * (SIZE_B[m[2] as string] as number);
}

export function parseWrkOutput(text: string): WrkResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(text);
    if (!m) throw new Error(`wrk: output has no ${what}:\n${text.slice(0, 2000)}`);
    return m;
  };
  const total = need(/^\s*(\d+) requests in ([\d.]+(?:us|ms|s|m|h)), ([\d.]+(?:B|KB|MB|GB|TB)) read/m, 'request total');
  const rps = need(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec');
  const tps = need(/^Transfer\/sec:\s+([\d.]+(?:B|KB|MB|GB|TB))/m, 'Transfer/sec');
  const lat = need(/^\s*Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)\s+[\d.]+%/m, 'latency stats');
  const distributionMs: Record<string, number> = {};
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^\s*Latency Distribution\s*$/.test(l));
  for (let i = start + 1; start >= 0 && i < lines.length; i++) {
    const m = /^\s*([\d.]+)%\s+([\d.]+(?:us|ms|s|m|h))\s*$/.exec(lines[i] as string);
    if (!m) break;
    distributionMs[m[1] as string] = parseWrkTime(m[2] as string);
  }
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    durationSec: parseWrkTime(total[2] as string) / 1000,
    bytesRead: parseWrkSize(total[3] as string),
    requestsPerSec: Number(rps[1]),
    transferPerSec: parseWrkSize(tps[1] as string),
    latencyMs: { avg: parseWrkTime(lat[1] as string), stdev: parseWrkTime(lat[2] as string), max: parseWrkTime(lat[3] as string) },
    distributionMs,
    socketErrors: se
      ? { connect: Number(se[1]), read: Number(se[2]), write: Number(se[3]), timeout: Number(se[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx3xx: non ? Number(non[1]) : 0,
  };
}
