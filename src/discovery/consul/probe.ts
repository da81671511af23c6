/**
 * Probes of the local app, whose result the registration pushes into the TTL
 * check: HTTP GET (2xx passing, 429 warning — Consul's own HTTP check rule —
 * anything else critical), TCP connect, or the gRPC health protocol
 * (probe-grpc.ts). Every probe has a timeout and never throws.
 */
import { connect } from 'node:net';
import { request } from 'undici';
import type { Health } from '../types.ts';
import type { ProbeOptions } from './options.ts';
import { grpcHealthProbe } from './probe-grpc.ts';

export interface ProbeResult { readonly status: Health; readonly output: string }
export type Probe = () => Promise<ProbeResult>;

export interface ProbeTarget { readonly host: string; readonly port: number }

const hostPort = (t: ProbeTarget): string => (t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`);

export function httpProbe(t: ProbeTarget, path: string, timeoutMs: number): Probe {
  const url = `http://${hostPort(t)}${path}`;
  return async () => {
    try {
      const res = await request(url, {
        method: 'GET', headers: { 'user-agent': 'aim-mesh health probe', accept: 'text/plain, text/*, */*' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = (await res.body.text()).slice(0, 256);
      const output = `HTTP GET ${url}: ${res.statusCode}${body ? ` Output: ${body}` : ''}`;
      if (res.statusCode >= 200 && res.statusCode < 300) return { status: 'passing', output };
      if (res.statusCode === 429) return { status: 'warning', output };
      return { status: 'critical', output };
    } catch (err) {
      const e = err as Error & { code?: string; name?: string };
      const why = e.name === 'TimeoutError' || e.code === 'UND_ERR_ABORTED' ? `timed out after ${timeoutMs}ms` : (e.code ?? e.message);
      return { status: 'critical', output: `HTTP GET ${url}: ${why}` };
    }
  };
}

export function tcpProbe(t: ProbeTarget, timeoutMs: number): Probe {
  const addr = hostPort(t);
  return () => new Promise<ProbeResult>((resolve) => {
    const sock = connect({ host: t.host, port: t.port });
    const timer = setTimeout(() => { sock.destroy(); resolve({ status: 'critical', output: `TCP connect ${addr}: timed out after ${timeoutMs}ms` }); }, timeoutMs);
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve({ status: 'passing', output: `TCP connect ${addr}: Success` }); });
    sock.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); resolve({ status: 'critical', output: `TCP connect ${addr}: ${e.code ?? e.message}` }); });
  });
}

/** Build the configured probe of the local app. `close` releases a gRPC channel. */
export function createProbe(o: ProbeOptions, target: ProbeTarget): { probe: Probe; close: () => void } {
  switch (o.kind) {
    case 'http': return { probe: httpProbe(target, o.path, o.timeout), close: () => {} };
    case 'tcp': return { probe: tcpProbe(target, o.timeout), close: () => {} };
    case 'grpc': return grpcHealthProbe(target, o.grpc_service, o.timeout);
    case 'none': return { probe: async () => ({ status: 'passing', output: 'no probe configured' }), close: () => {} };
  }
}
