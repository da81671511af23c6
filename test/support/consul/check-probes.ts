/**
 * What a Consul agent's check runners decide (agent/checks): HTTP (2xx
 * passing, 429 warning, anything else critical), TCP connect, and alias
 * checks (the worst status of the aliased service's checks and of the node's
 * local checks). Outputs follow Consul's wording.
 */
import { connect } from 'node:net';
import type { CheckStatus } from './types.ts';

export interface ProbeResult { status: CheckStatus; output: string }

export async function httpProbe(def: { url: string; method: string; header: Record<string, string[]>; body: string }, timeoutMs: number): Promise<ProbeResult> {
  const headers = new Headers();
  for (const [k, vs] of Object.entries(def.header)) for (const v of vs) headers.append(k, v);
  if (!headers.has('user-agent')) headers.set('User-Agent', 'Consul Health Check');
  if (!headers.has('accept')) headers.set('Accept', 'text/plain, text/*, */*');
  try {
    const res = await fetch(def.url, {
      method: def.method, headers, body: def.body === '' ? undefined : def.body, signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await res.text()).slice(0, 4096);
    const output = `HTTP ${def.method} ${def.url}: ${res.status} ${res.statusText} Output: ${text}`;
    if (res.status >= 200 && res.status < 300) return { status: 'passing', output };
    if (res.status === 429) return { status: 'warning', output };
    return { status: 'critical', output };
  } catch (e) {
    const err = e as Error & { cause?: { message?: string } };
    return { status: 'critical', output: `Get "${def.url}": ${err.cause?.message ?? err.message}` };
  }
}

export function tcpProbe(address: string, timeoutMs: number): Promise<ProbeResult> {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(address);
  if (!m) return Promise.resolve({ status: 'critical', output: `dial tcp ${address}: missing port in address` });
  return new Promise((resolve) => {
    const sock = connect({ host: m[1]!, port: Number(m[2]) });
    const timer = setTimeout(() => { sock.destroy(); resolve({ status: 'critical', output: `dial tcp ${address}: i/o timeout` }); }, timeoutMs);
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve({ status: 'passing', output: `TCP connect ${address}: Success` }); });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ECONNREFUSED' ? 'connect: connection refused' : e.message;
      resolve({ status: 'critical', output: `dial tcp ${address}: ${why}` });
    });
  });
}

/** An alias check's verdict from the other local checks (agent/checks/alias.go). */
export function aliasVerdict(aliasService: string, checks: Array<{ serviceId: string; name: string; status: CheckStatus; output: string }>): ProbeResult {
  let status: CheckStatus = 'passing';
  let output = 'No checks found.';
  for (const c of checks) {
    if (c.serviceId !== '' && c.serviceId !== aliasService) continue;
    if (output === 'No checks found.') output = 'All checks passing.';
    if (c.status === 'critical') return { status: 'critical', output: `Aliased check "${c.name}" failing: ${c.output}` };
    if (c.status === 'warning') { status = 'warning'; output = `Aliased check "${c.name}" failing: ${c.output}`; }
  }
  return { status, output };
}
