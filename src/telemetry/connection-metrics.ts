/**
 * Downstream connection statistics for one listener (direction, target):
 * opened, closed, open now, and bytes both ways, for every protocol the port
 * speaks (HTTP/1, HTTP/2, opaque TCP).
 *
 * Bytes are read from the socket's own `bytesRead`/`bytesWritten` counters,
 * so nothing runs per chunk. A live socket's growth is folded into the
 * totals at each scrape (`fold()`, called from the registry's collect) and
 * at close, so long-lived keep-alive connections show up while they live.
 */
import type { Socket } from 'node:net';

interface Seen {
  read: number;
  written: number;
}

export class ConnectionStats {
  readonly direction: string;
  readonly target: string;
  opened = 0;
  closed = 0;
  readBytes = 0;
  writtenBytes = 0;
  readonly #live = new Map<Socket, Seen>();

  constructor(direction: string, target: string) {
    this.direction = direction;
    this.target = target;
  }

  get open(): number {
    return this.#live.size;
  }

  /** Count an accepted socket until it closes. */
  track(s: Socket): void {
    this.opened++;
    this.#live.set(s, { read: 0, written: 0 });
    s.once('close', () => {
      this.#foldOne(s);
      this.#live.delete(s);
      this.closed++;
    });
  }

  /** Fold the live sockets' byte growth since the last fold into the totals. */
  fold(): void {
    for (const s of this.#live.keys()) this.#foldOne(s);
  }

  /** /reset_counters: totals go to zero; bytes already folded stay counted as "before". */
  reset(): void {
    this.fold();
    this.opened = 0;
    this.closed = 0;
    this.readBytes = 0;
    this.writtenBytes = 0;
  }

  #foldOne(s: Socket): void {
    const seen = this.#live.get(s);
    if (seen === undefined) return;
    const r = s.bytesRead;
    const w = s.bytesWritten;
    if (r > seen.read) { this.readBytes += r - seen.read; seen.read = r; }
    if (w > seen.written) { this.writtenBytes += w - seen.written; seen.written = w; }
  }
}
