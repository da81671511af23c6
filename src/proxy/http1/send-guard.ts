/**
 * Slow-reader protection for a downstream socket: the write-idle and
 * minimum-send-rate rules (nginx's send_timeout, Envoy's
 * max_stream_duration-style guards). Node never closes a client that stops
 * reading, and the socket's idle timeout is no help against one that reads a
 * byte a second: every byte counts as activity.
 *
 * The guard costs nothing while the client keeps up. It arms when a write
 * reports backpressure (`backlogged()`); then, at the end of every
 * `windowMs`, it counts the bytes the kernel took off our buffer in that
 * window. When bytes are still queued and fewer than
 * max(1, minBytesPerSec × window) left, `onSlow` runs (the connection
 * aborts). A window with nothing queued at its end and no backpressure in
 * it disarms the guard. It stays armed across 'drain' events on purpose: a
 * reader below the floor still drains now and then.
 *
 *   windowMs = limits.write_idle   (0 = off)
 *   minBytesPerSec = limits.min_send_rate   (0 = any progress will do)
 *
 * Progress is what left our user-space buffer. The kernel reports a socket
 * writable again only when about a third of its send buffer is free, so
 * progress arrives in steps of that size (tens of KB on a network path, over
 * a MB on loopback with autotuned buffers): a trickle of a few bytes a second
 * shows no progress at all and trips write_idle by itself, and a window must
 * be long against (send buffer / 3) / rate for a legitimate slow reader.
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
  /** backlogged() was called during the current window. */
  #pressed = false;

  constructor(sock: Socket, limits: SendGuardLimits, onSlow: (detail: string) => void) {
    this.#sock = sock;
    this.#limits = limits;
    this.#onSlow = onSlow;
    this.#need = Math.max(1, Math.floor(limits.minBytesPerSec * limits.windowMs / 1000));
  }

  get armed(): boolean { return this.#timer !== undefined; }

  /** A write to the socket returned false: start watching, or keep watching. */
  backlogged(): void {
    if (this.#timer !== undefined) { this.#pressed = true; return; }
    if (this.#limits.windowMs <= 0 || this.#sock.destroyed) return;
    this.#mark = this.#flushed();
    this.#pressed = false;
    this.#timer = setInterval(this.#tick, this.#limits.windowMs);
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Bytes handed to the kernel so far (written minus still queued in user space). */
  #flushed(): number {
    return this.#sock.bytesWritten - this.#sock.writableLength;
  }

  #tick = (): void => {
    if (this.#sock.destroyed) { this.stop(); return; }
    const queued = this.#sock.writableLength > 0;
    const now = this.#flushed();
    const sent = now - this.#mark;
    this.#mark = now;
    const pressed = this.#pressed;
    this.#pressed = false;
    if (queued && sent < this.#need) {
      this.stop();
      const l = this.#limits;
      this.#onSlow(l.minBytesPerSec > 0
        ? `client read ${sent} bytes in ${l.windowMs} ms, below limits.min_send_rate (${l.minBytesPerSec} B/s)`
        : `client read nothing for limits.write_idle (${l.windowMs} ms)`);
    } else if (!queued && !pressed) {
      this.stop(); // the client kept up: nothing to watch until the next backpressure
    }
  };
}
