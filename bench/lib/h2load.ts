/**
 * Closed-loop max throughput for the grpc scenario with Debian's `h2load`
 * (nghttp2-client): `connections` h2c connections with `streams` concurrent
 * calls each, every call a POST of the framed request (grpc.ts) with gRPC's
 * headers, for a fixed duration. Started through the ProcessGroup like every
 * other process (tracked, stopped by PID); the report is parsed by
 * h2load-parse.ts, which also counts gRPC errors from the payload bytes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GRPC_METHOD, GRPC_REQUEST, GRPC_RESPONSE_FRAME_BYTES, grpcFrame } from './grpc.ts';
import { parseH2loadOutput, type H2loadResult } from './h2load-parse.ts';
import type { ProcessGroup } from './procs.ts';

export interface H2loadOptions {
  readonly h2load: string;
  /** e.g. http://127.0.0.1:40111 */
  readonly origin: string;
  /** Where the request body file goes (the run's temp dir). */
  readonly dir: string;
  readonly durationSec: number;
  readonly connections: number;
  readonly streams: number;
}

let seq = 0;

export async function runH2load(procs: ProcessGroup, o: H2loadOptions): Promise<H2loadResult> {
  const body = join(o.dir, 'grpc-request.bin');
  writeFileSync(body, grpcFrame(GRPC_REQUEST));
  const args = ['-t', '1', '-c', String(o.connections), '-m', String(o.streams), '-D', String(o.durationSec),
    '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `${o.origin}${GRPC_METHOD}`];
  const t = procs.spawn(`h2load-${++seq}`, o.h2load, args);
  const killer = setTimeout(() => void procs.stop(t), (o.durationSec + 30) * 1000);
  const { code } = await t.exited;
  clearTimeout(killer);
  const text = readFileSync(t.logPath, 'utf8');
  if (code !== 0) throw new Error(`h2load exited with code ${code}: ${text.slice(-800)}`);
  return parseH2loadOutput(text, GRPC_RESPONSE_FRAME_BYTES);
}
