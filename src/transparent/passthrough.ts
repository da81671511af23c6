/**
 * Passthrough of a captured connection to its original destination (policy
 * `passthrough`, for destinations that are not mesh services): bytes both
 * ways, with half-close (pipe() ends the other side's write half on FIN),
 * an idle timeout, and both sockets closed shortly after either closes.
 * The agent's UID is excluded by the rules, so this dial is not captured again.
 */
import type { Socket } from 'node:net';

/** Passthrough: copy both ways with half-close and an idle timeout; `onFail` when the dial fails. */
export function pipeBoth(down: Socket, up: Socket, idleMs: number, onFail: (err: Error) => void): void {
  let connected = false;
  up.once('connect', () => { connected = true; down.pipe(up); up.pipe(down); down.resume(); });
  up.on('error', (err) => { if (!connected) onFail(err); down.destroy(); });
  down.on('error', () => up.destroy());
  down.on('close', () => { if (!connected) up.destroy(); else setTimeout(() => up.destroy(), 1000).unref(); });
  up.on('close', () => setTimeout(() => down.destroy(), 1000).unref());
  for (const x of [down, up]) { x.setTimeout(idleMs); x.on('timeout', () => { down.destroy(); up.destroy(); }); }
}
