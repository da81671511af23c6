/**
 * Opaque TCP forwarding (Consul's conn.go): pick an endpoint, dial it, and
 * copy bytes both ways with backpressure (stream.pipe), honouring half-close:
 * a FIN from one side ends the other side's write half while the reverse
 * direction keeps flowing. An error or idle timeout on either side closes
 * both; the reason is logged once, here — this is the TCP rescue point.
 */
import type { Socket } from 'node:net';
import { ProxyError } from '../../core/errors.ts';
import { newRequestCtx, runDoneFilters, runRequestFilters, Verdict, type Filter, type Direction, type RequestCtx } from '../../core/filter.ts';
import type { Cluster } from '../cluster.ts';
import type { Logger } from '../../telemetry/log.ts';

export interface TcpForwardOptions {
  readonly direction: Direction;
  readonly listener: string;
  readonly cluster: Cluster;
  readonly filters: readonly Filter[];
  readonly idleMs: number;
  readonly log: Logger;
}

export function forwardTcp(down: Socket, o: TcpForwardOptions, peerIdentity: string | undefined): void {
  const ctx = newRequestCtx();
  ctx.direction = o.direction;
  ctx.listener = o.listener;
  ctx.upstream = o.cluster.name;
  ctx.protocol = 'tcp';
  ctx.peerIdentity = peerIdentity;
  ctx.remoteAddress = down.remoteAddress ?? '';
  ctx.startedAt = performance.now();
  let done = false;
  const finish = (err?: ProxyError): void => {
    if (done) return;
    done = true;
    if (err) {
      ctx.reason = err.reason;
      o.log.warn({ reason: err.reason, detail: err.detail, listener: o.listener, upstream: o.cluster.name, endpoint: ctx.endpoint?.key, peer: peerIdentity }, 'tcp connection failed');
    }
    runDoneFilters(o.filters, ctx);
  };
  down.on('error', () => { /* reported through close */ });
  down.pause();
  if (runRequestFilters(o.filters, ctx) === Verdict.Reply) {
    finish(ctx.error);
    down.destroy();
    return;
  }
  const tryConnect = (): void => {
    ctx.attempts++;
    const ep = o.cluster.balancer.pick(ctx, ctx.endpoint);
    if (ep === undefined) { finish(new ProxyError('no_endpoints', `no available endpoint for ${o.cluster.name}`)); down.destroy(); return; }
    ctx.endpoint = ep;
    const started = performance.now();
    o.cluster.attemptStarted(ep, ctx);
    o.cluster.pool.acquire(ep, (err, up) => {
      if (err !== null || up === null) {
        o.cluster.attemptEnded(ep, ctx, { ok: false, status: 0, reason: err?.reason, latencyMs: performance.now() - started });
        if (!down.destroyed && ctx.attempts < 3 && err?.reason !== 'upstream_tls_identity' && o.cluster.retry.next(ctx, { ok: false, status: 0, reason: err?.reason, latencyMs: 0 }, { requestBytesSent: false, replayable: true }) >= 0) {
          tryConnect();
          return;
        }
        finish(err ?? new ProxyError('upstream_connect_failed', 'no socket'));
        down.destroy();
        return;
      }
      if (down.destroyed) { up.destroy(); o.cluster.attemptEnded(ep, ctx, { ok: true, status: 0, reason: undefined, latencyMs: 0 }); finish(); return; }
      o.cluster.attemptEnded(ep, ctx, { ok: true, status: 0, reason: undefined, latencyMs: performance.now() - started });
      splice(down, up, o, ctx, finish);
    });
  };
  const asyncFilters = o.filters.filter(isAsyncFilter);
  if (asyncFilters.length > 0) {
    // A decision that needs I/O (Consul intentions on a cache miss): wait before connecting.
    void (async () => {
      for (const f of asyncFilters) {
        const p = f.onRequestAsync(ctx);
        if (p !== null && (await p.catch(() => Verdict.Reply)) === Verdict.Reply) {
          finish(ctx.error ?? new ProxyError('internal_error', `${f.name} refused without a reason`));
          down.destroy();
          return;
        }
      }
      if (!down.destroyed) tryConnect();
    })();
    return;
  }
  tryConnect();
}

function isAsyncFilter(f: Filter): f is Filter & { onRequestAsync(ctx: RequestCtx): Promise<Verdict> | null } {
  return typeof (f as { onRequestAsync?: unknown }).onRequestAsync === 'function';
}

function splice(down: Socket, up: Socket, o: TcpForwardOptions, ctx: ReturnType<typeof newRequestCtx>, finish: (e?: ProxyError) => void): void {
  up.setNoDelay(true);
  down.setNoDelay(true);
  down.setTimeout(o.idleMs);
  up.setTimeout(o.idleMs);
  let upErr: Error | undefined;
  const closeBoth = (): void => { down.destroy(); up.destroy(); };
  down.on('data', (b: Buffer) => { ctx.bytesIn += b.length; });
  up.on('data', (b: Buffer) => { ctx.bytesOut += b.length; });
  // pipe() ends the destination when the source ends: that is the half-close.
  down.pipe(up);
  up.pipe(down);
  down.resume();
  up.on('error', (e) => { upErr = e; });
  const onTimeout = (): void => {
    // Idle means idle both ways: any byte in either direction refreshes both timers.
    finish(new ProxyError('upstream_timeout', `tcp connection idle for ${o.idleMs} ms`));
    closeBoth();
  };
  down.on('timeout', onTimeout);
  up.on('timeout', onTimeout);
  down.on('data', () => up.setTimeout(o.idleMs));
  up.on('data', () => down.setTimeout(o.idleMs));
  let closed = 0;
  const onClose = (): void => {
    if (++closed === 1) {
      // One side is gone for good: give the other a moment to flush, then close it.
      setTimeout(closeBoth, 1000).unref();
      return;
    }
    finish(upErr && (upErr as NodeJS.ErrnoException).code !== 'ECONNRESET' ? new ProxyError('upstream_reset', upErr.message) : undefined);
  };
  down.on('close', onClose);
  up.on('close', onClose);
}
