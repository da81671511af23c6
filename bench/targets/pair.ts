/**
 * The shape shared by the proxy-pair targets (HAProxy, nginx): start the
 * inbound proxy, then the outbound one (stopping the inbound if that fails),
 * and describe the running pair — its client origin, process roles, the
 * mTLS hop for the handshake measure, and how to stop both.
 */
import { SERVER_NAME } from '../lib/certs.ts';
import { HOST } from '../lib/ports.ts';
import type { Tracked } from '../lib/procs.ts';
import type { RunningTarget, TargetContext } from './types.ts';

export async function proxyPair(ctx: TargetContext, ports: { inPort: number; outPort: number },
  startInbound: () => Promise<Tracked>, startOutbound: () => Promise<Tracked>): Promise<RunningTarget> {
  const c = ctx.certs;
  const inbound = await startInbound();
  let outbound: Tracked;
  try {
    outbound = await startOutbound();
  } catch (e) {
    await ctx.procs.stop(inbound);
    throw e;
  }
  return {
    origin: `http://${HOST}:${ports.outPort}`,
    roles: () => ({ outbound: outbound.pids(), inbound: inbound.pids(), backend: ctx.backend.pids() }),
    tlsHop: { host: HOST, port: ports.inPort, servername: SERVER_NAME, caFile: c.caCert, certFile: c.clientCert, keyFile: c.clientKey, path: '/small' },
    async stop() {
      await Promise.all([ctx.procs.stop(outbound), ctx.procs.stop(inbound)]);
    },
  };
}
