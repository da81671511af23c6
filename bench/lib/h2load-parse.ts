/**
 * Parser for the text report of `h2load` (Debian's nghttp2-client 1.52),
 * closed-loop max throughput over HTTP/2. Pure: h2load.ts runs the binary.
 * h2load counts HTTP statuses only; a gRPC error is an HTTP 200 whose
 * grpc-status is in the trailers, which h2load never reads. So `grpcErrors`
 * is derived from the payload bytes: every good call's response body is
 * exactly one prefixed message (`frameBytes`), and an error answer
 * (trailers-only) has none. The byte count also covers calls still in flight
 * when the window closed (h2load's status counts do too; its `succeeded` does
 * not), so calls that succeeded at the HTTP level but are not matched by a
 * whole message are errors: a lower bound, exact up to the few calls in
 * flight at the end (at most connections × streams). The open-loop phases
 * check grpc-status and the message of every call exactly.
 */

export interface H2loadResult {
  /** Requests completed inside the measured window. */
  readonly requests: number;
  readonly durationSec: number;
  readonly requestsPerSec: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status: { readonly '2xx': number; readonly '3xx': number; readonly '4xx': number; readonly '5xx': number };
  readonly headerBytes: number;
  readonly dataBytes: number;
  /** Calls h2load counted as succeeded that brought no message (see above): a lower bound. */
  readonly grpcErrors: number;
}

const TIME_S: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

export function parseH2loadOutput(text: string, frameBytes: number): H2loadResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(text);
    if (!m) throw new Error(`h2load: output has no ${what}:\n${text.slice(-2000)}`);
    return m;
  };
  const fin = need(/^finished in ([\d.]+)(us|ms|s|m|h), ([\d.]+) req\/s/m, 'finished line');
  const rq = need(/^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m, 'requests line');
  const st = need(/^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m, 'status codes line');
  const tr = need(/^traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers .*?, .*?\((\d+)\) data/m, 'traffic line');
  const s2xx = Number(st[1]);
  const dataBytes = Number(tr[3]);
  const whole = Math.floor(dataBytes / frameBytes);
  const succeeded = Number(rq[4]);
  return {
    requests: Number(rq[3]),
    durationSec: Number(fin[1]) * (TIME_S[fin[2] as string] as number),
    requestsPerSec: Number(fin[3]),
    succeeded,
    failed: Number(rq[5]),
    errored: Number(rq[6]),
    timeout: Number(rq[7]),
    status: { '2xx': s2xx, '3xx': Number(st[2]), '4xx': Number(st[3]), '5xx': Number(st[4]) },
    headerBytes: Number(tr[2]),
    dataBytes,
    grpcErrors: Math.max(0, succeeded - whole),
  };
}
