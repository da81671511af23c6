/**
 * Loop guard of the capture listener: recognises a captured connection that
 * the capture dialled itself. That happens only when the agent's UID is not
 * the one redirect-traffic excludes (--proxy-uid), and without this guard
 * every such connection would be captured again, forever.
 *
 * The captured socket's remote address:port and original destination are
 * our socket's local and remote address:port (REDIRECT rewrites only the
 * destination). The whole 4-tuple is compared: Linux hands out the same
 * ephemeral port to connections with different destinations. Either event
 * may be seen first (accept, or our own 'connect'), so both sides are
 * remembered until they close: one Set and one Map operation per connection.
 */
import type { Socket } from 'node:net';
import type { Dialer } from '../proxy/upstream/pool.ts';
import { canonicalAddress } from './capture.ts';

/** A captured socket's loop state: set now or later (whichever of accept and our own connect comes second). */
export interface Guarded { loop: boolean; kill: (() => void) | undefined }

export class LoopGuard {
  readonly #own = new Set<string>();
  readonly #captured = new Map<string, Guarded>();

  wrap(d: Dialer): Dialer {
    return { kind: d.kind, readyEvent: d.readyEvent, dial: (ep) => { const s = d.dial(ep); this.own(s); return s; } };
  }

  own(s: Socket): void {
    s.once('connect', () => {
      const k = tuple(s.localAddress, s.localPort, s.remoteAddress, s.remotePort);
      this.#own.add(k);
      s.once('close', () => this.#own.delete(k));
      const g = this.#captured.get(k);
      if (g !== undefined) { g.loop = true; g.kill?.(); }
    });
  }

  /** `od` is the captured socket's original destination. */
  captured(s: Socket, od: { readonly address: string; readonly port: number }): Guarded {
    const k = tuple(s.remoteAddress, s.remotePort, od.address, od.port);
    const g: Guarded = { loop: this.#own.has(k), kill: undefined };
    this.#captured.set(k, g);
    s.once('close', () => { if (this.#captured.get(k) === g) this.#captured.delete(k); });
    return g;
  }
}

const tuple = (srcAddr: string | undefined, srcPort: number | undefined, dstAddr: string | undefined, dstPort: number | undefined): string =>
  `${canonicalAddress(srcAddr ?? '')}|${srcPort}|${canonicalAddress(dstAddr ?? '')}|${dstPort}`;
