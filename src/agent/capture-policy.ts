/**
 * Transparent capture (capture.ts): a connection whose original destination
 * is not a mesh service meets `transparent.policy`.
 *
 *   block        → closed; an HTTP/1 request gets an answer that says why
 *   passthrough  → the original destination is dialled (the dial marked as
 *                  the agent's own for the loop guard) and both sides piped;
 *                  shed at once while the agent is overloaded
 *
 * Counted (transparent_capture_total) and logged: the first time per
 * destination at warn (blocked) or info (passthrough), then at debug.
 */
import { connect, type Socket } from 'node:net';
import { ProxyError } from '../core/errors.ts';
import type { Connection } from '../listeners/listener.ts';
import { errorResponse } from '../proxy/http1/rescue.ts';
import type { Logger } from '../telemetry/log.ts';
import type { CaptureDecision } from '../transparent/capture.ts';
import type { CaptureStats } from '../transparent/capture-stats.ts';
import type { Guarded, LoopGuard } from '../transparent/loop-guard.ts';
import type { OriginalDst } from '../transparent/original-dst.ts';
import { pipeBoth } from '../transparent/passthrough.ts';
import { tcpConnection } from './pending-connection.ts';

export interface CapturePolicyDeps {
  readonly stats: CaptureStats;
  readonly log: Logger;
  readonly guard: LoopGuard;
  /** limits.stream_idle, for the piped bytes. */
  readonly idleMs: number;
  /** While overloaded: the socket closed and its connection; else undefined. */
  readonly shed: (s: Socket) => Connection | undefined;
  /** A captured socket the loop guard flagged: counted, logged and closed. */
  readonly refuseLoop: (s: Socket, od: OriginalDst) => Connection;
}

/** The policy as a connection handler; `http` says whether the socket carries an HTTP/1 request (then paused at its head). */
export function capturePolicy(p: CapturePolicyDeps): (s: Socket, od: OriginalDst, d: CaptureDecision, g: Guarded, http: boolean) => Connection {
  const { stats, log } = p;
  return (s, od, d, g, http) => {
    const why = d.kind === 'service' ? '' : d.why;
    const dest = hostPort(od);
    if (g.loop) return p.refuseLoop(s, od);
    if (d.kind === 'blocked') {
      stats.count('blocked', dest, why);
      log[stats.firstTime(dest) ? 'warn' : 'debug']({ reason: 'transparent_blocked', why, destination: dest }, 'transparent: connection to a non-mesh destination blocked (transparent.policy: block)');
      if (!http) { s.destroy(); return tcpConnection(s); }
      // HTTP/1 gets an answer that says why; the request's bytes are discarded.
      s.resume();
      s.end(errorResponse(new ProxyError('no_route', `transparent.policy is block and ${dest} is not a mesh service (${why})`), true, ''));
      setTimeout(() => s.destroy(), 5_000).unref();
      return tcpConnection(s);
    }
    const shedded = p.shed(s);
    if (shedded !== undefined) return shedded;
    stats.count('passthrough', dest, why);
    log[stats.firstTime(dest) ? 'info' : 'debug']({ destination: dest, why }, 'transparent: passthrough to a non-mesh destination');
    const up = connect({ host: od.address, port: od.port, noDelay: true, allowHalfOpen: true });
    p.guard.own(up);
    g.kill = () => { p.refuseLoop(s, od); up.destroy(); };
    pipeBoth(s, up, p.idleMs, (err) => {
      stats.count('passthrough_failed', dest, err.message);
      log.warn({ reason: 'upstream_connect_failed', destination: hostPort(od), err: err.message }, 'transparent: passthrough dial failed');
    });
    return { idle: false, shutdown() { /* let it finish until the deadline */ }, destroy() { s.destroy(); up.destroy(); } };
  };
}

/** `address:port`, bracketing IPv6 addresses. */
export const hostPort = (od: { address: string; port: number }): string => (od.address.includes(':') ? `[${od.address}]:${od.port}` : `${od.address}:${od.port}`);
