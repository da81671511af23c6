/**
 * Slow-reader protection for a downstream socket: the write-idle and
 * minimum-send-rate rules (nginx's send_timeout, Envoy's
 * max_stream_duration-style guards). Node never closes a client that stops
 * reading, and the socket's idle timeout is no help against one that reads a
 * byte a second: every byte counts as activity.
 *
 * The guard costs nothing while the client keeps up. It arms only when a
 * write reports backpressure (`backlogged()`); then, every `windowMs` while
 * bytes are still queued, it measures how many bytes the kernel took off
 * our buffer in that window. Fewer than max(1, minBytesPerSec × window) and
 * `onSlow` runs (the connection aborts it); a 'drain' disarms the guard.
 *
 *   windowMs = limits.write_idle   (0 = off)
 *   minBytesPerSec = limits.min_send_rate   (0 = any progress will do)
 */
import type { Socket } from 'node:net';

export interface SendGuardLimits {
  readonly windowMs: number;
  readonly minBytesPerSec: number;
}

export class SendGuard {
  readonly #sock: Socket;
  readonly #limits: SendGuardLimits;
  readonly #onSlow: (detail: string) => void;
  readonly #need: number;
  #timer: NodeJS.Timeout | undefined;
  #mark = 0;

  constructor(sock: Socket, limits: SendGuardLimits, onSlow: (detail: string) => void) {
    this.#sock = sock;
    this.#limits = limits;
    this.#onSlow = onSlow;
    this.#need = Math.max(1, Math.floor(limits.minBytesPerSec * limits.windowMs / 1000));
  }

  get armed(): boolean { return this.#timer !== undefined; }

  /** A write to the socket returned false: start watching, unless already. */
  backlogged(): void {
    if (this.#timer !== undefined || this.#limits.windowMs <= 0 || this.#sock.destroyed) return;
    this.#mark = this.#flushed();
    this.#sock.once('drain', this.#onDrain);
    this.#timer = setInterval(this.#tick, this.#limits.windowMs);
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sock.removeListener('drain', this.#onDrain);
  }

  /** Bytes handed to the kernel so far (written minus still queued in user space). */
  #flushed(): number {
    return this.#sock.bytesWritten - this.#sock.writableLength;
  }

  #onDrain = (): void => {
    this.stop();
  };

  #tick = (): void => {
    if (this.#sock.destroyed || this.#sock.writableLength === 0) { this.stop(); return; }
    const now = this.#flushed();
    const sent = now - this.#mark;
    this.#mark = now;
    if (sent < this.#need) {
      this.stop();
      const l = this.#limits;
      this.#onSlow(l.minBytesPerSec > 0
        ? `client read ${sent} bytes in ${l.windowMs} ms, below limits.min_send_rate (${l.minBytesPerSec} B/s)`
        : `client read nothing for limits.write_idle (${l.windowMs} ms)`);
    }
  };
}
