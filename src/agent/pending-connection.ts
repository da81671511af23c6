/**
 * What the capture listener tracks for a connection (listeners/listener.ts
 * `Connection`) before and after its route is known.
 */
import type { Socket } from 'node:net';
import type { Connection } from '../listeners/listener.ts';

/** A connection carried as bytes: never idle (drain lets it run to the deadline). */
export const tcpConnection = (s: Socket): Connection => ({ idle: false, shutdown() { /* let it finish until the deadline */ }, destroy() { s.destroy(); } });

/** The listener's view of a connection whose route is still being decided (detection, discovery, Host). */
export class Deferred implements Connection {
  readonly socket: Socket;
  #inner: Connection | undefined;
  #shutdown = false;
  constructor(socket: Socket) { this.socket = socket; }
  adopt(c: Connection): void { this.#inner = c; if (this.#shutdown) c.shutdown(); }
  get idle(): boolean { return this.#inner?.idle ?? false; }
  shutdown(): void { this.#shutdown = true; this.#inner?.shutdown(); }
  destroy(): void { if (this.#inner !== undefined) this.#inner.destroy(); else this.socket.destroy(); }
}
