/**
 * The gRPC health probe: one unary call of grpc.health.v1.Health/Check over a
 * kept-open @grpc/grpc-js channel. The messages are tiny, so they are encoded
 * by hand instead of loading health.proto:
 *   HealthCheckRequest  { string service = 1; }              → 0x0a len bytes
 *   HealthCheckResponse { ServingStatus status = 1; }          ← 0x08 varint
 * SERVING → passing; NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN or an RPC error → critical.
 */
import * as grpc from '@grpc/grpc-js';
import type { Probe, ProbeResult, ProbeTarget } from './probe.ts';

const STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

export function encodeHealthRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const s = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(s.length), s]);
}

export function decodeHealthResponse(b: Buffer): number {
  let status = 0;
  let i = 0;
  while (i < b.length) {
    const tag = b[i++]!;
    const wire = tag & 7;
    if (wire === 0) {
      const [v, n] = readVarint(b, i);
      i = n;
      if (tag >> 3 === 1) status = v;
    } else if (wire === 2) {
      const [len, n] = readVarint(b, i);
      i = n + len;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else throw new Error(`bad wire type ${wire}`);
  }
  return status;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}

function readVarint(b: Buffer, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    const byte = b[i++];
    if (byte === undefined) throw new Error('truncated varint');
    v += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [v, i];
    shift += 7;
  }
}

export function grpcHealthProbe(t: ProbeTarget, service: string, timeoutMs: number): { probe: Probe; close: () => void } {
  const addr = t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
  const client = new grpc.Client(addr, grpc.credentials.createInsecure());
  const probe: Probe = () => new Promise<ProbeResult>((resolve) => {
    client.makeUnaryRequest<string, number>(
      '/grpc.health.v1.Health/Check',
      encodeHealthRequest,
      decodeHealthResponse,
      service,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, status) => {
        if (err) { resolve({ status: 'critical', output: `gRPC health ${addr}: ${grpc.status[err.code] ?? err.code}: ${err.details}` }); return; }
        const name = STATUS[status ?? 0] ?? String(status);
        resolve({ status: status === 1 ? 'passing' : 'critical', output: `gRPC health ${addr}${service ? ` (${service})` : ''}: ${name}` });
      },
    );
  });
  return { probe, close: () => client.close() };
}
