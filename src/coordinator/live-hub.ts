/**
 * Live dashboard updates over WebSocket (`ws`) at /api/v1/live.
 *
 * A client receives the mesh summary on connect and after every publish of
 * the mesh state (at most one per `minPublishIntervalMs`). Each publish is
 * serialized once for all clients; a client whose socket is still backed up
 * with a previous update skips this one (it will get the next, and every
 * message is a full summary, so nothing is lost by skipping). The hub
 * subscribes to the mesh state only while someone is watching.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { summaryOf } from './aggregate.ts';
import type { MeshState } from './mesh-state.ts';
import type { MeshView } from './model.ts';

const MAX_BUFFERED = 1 << 20;

export class LiveHub {
  readonly #state: MeshState;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  #unsubscribe: (() => void) | undefined;
  /** Messages sent (all clients), for tests and the bench. */
  sent = 0;

  constructor(state: MeshState) {
    this.#state = state;
    this.#wss.on('connection', (ws) => this.#onConnection(ws));
  }

  static message(view: MeshView): string {
    return JSON.stringify({ type: 'mesh', data: summaryOf(view) });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
  }

  get clients(): number { return this.#wss.clients.size; }

  #onConnection(ws: WebSocket): void {
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      if (this.#wss.clients.size === 0) { this.#unsubscribe?.(); this.#unsubscribe = undefined; }
    });
    this.#unsubscribe ??= this.#state.subscribe((v) => this.#broadcast(v));
    ws.send(LiveHub.message(this.#state.view()));
    this.sent++;
  }

  #broadcast(view: MeshView): void {
    const msg = LiveHub.message(view);
    for (const ws of this.#wss.clients) {
      if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_BUFFERED) continue;
      ws.send(msg);
      this.sent++;
    }
  }

  close(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const ws of this.#wss.clients) ws.terminate();
    return new Promise((resolve) => this.#wss.close(() => resolve()));
  }
}
