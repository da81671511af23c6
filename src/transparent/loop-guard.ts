/**
 * Loop guard of the capture listener: recognises a captured connection that
 * the capture dialled itself. That happens only when the agent's UID is not
 * the one redirect-traffic excludes (--proxy-uid), and without this guard
 * every such connection would be captured again, forever.
 *
 * Our socket's local address:port equals the captured socket's remote
 * address:port (REDIRECT rewrites only the destination). Either event may be
 * seen first (accept, or our own 'connect'), so both sides are remembered
 * until they close: one Set and one Map operation per connection.
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
      const k = `${canonicalAddress(s.localAddress ?? '')}|${s.localPort}`;
      this.#own.add(k);
      s.once('close', () => this.#own.delete(k));
      const g = this.#captured.get(k);
      if (g !== undefined) { g.loop = true; g.kill?.(); }
    });
  }

  captured(s: Socket): Guarded {
    const k = `${canonicalAddress(s.remoteAddress ?? '')}|${s.remotePort}`;
    const g: Guarded = { loop: this.#own.has(k), kill: undefined };
    this.#captured.set(k, g);
    s.once('close', () => { if (this.#captured.get(k) === g) this.#captured.delete(k); });
    return g;
  }
}
