/**
 * The identity side of the agent's `AgentTls` contract (src/agent/tls.ts):
 * our server and client TLS contexts behind the five methods the agent uses.
 *
 *   const source = createIdentitySource(cfg.identity, { service, log });
 *   await source.start();
 *   const tls = createAgentTls(source, { scope: { trustDomain, namespace, datacenter }, log });
 *
 * - createServer: a TLS 1.3 mTLS server; `onSocket` only ever sees peers that
 *   passed our verification (others are closed, with a warn line naming the reason).
 * - peerIdentity: the verified SPIFFE ID of such a socket.
 * - clientOptions(ep, upstream): expected identity = ep.spec.identity, else the
 *   Consul-form ID of `upstream` in the local scope (expected-id.ts). Without
 *   either there is nothing to check against, so the handshake fails closed.
 *   Call `trackSession(socket, ep, upstream)` on the socket to enable resumption.
 * The contexts are built on first use, so the source must have started by then.
 */
import type { Server, Socket } from 'node:net';
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Endpoint } from '../balancer/endpoint.ts';
import { expectedSpiffeId, type LocalIdentityScope } from './expected-id.ts';
import type { IdentityLog } from './log.ts';
import { createClientTls, type ClientTls } from './tls-client.ts';
import { createServerTls, type ServerTls } from './tls-server.ts';
import type { IdentitySource } from './types.ts';

export interface AgentTlsOptions {
  readonly scope: LocalIdentityScope;
  readonly log?: IdentityLog;
  /** Handshake timeout on the public port (default 10 s). */
  readonly handshakeTimeoutMs?: number;
}

export class IdentityAgentTls {
  readonly #source: IdentitySource;
  readonly #o: AgentTlsOptions;
  #server: ServerTls | undefined;
  #client: ClientTls | undefined;
  readonly #detach: Array<() => void> = [];
  readonly #peers = new WeakMap<Socket, string>();

  constructor(source: IdentitySource, opts: AgentTlsOptions) {
    this.#source = source;
    this.#o = opts;
  }

  ready(): boolean {
    return this.#source.current() !== undefined;
  }

  createServer(onSocket: (s: Socket) => void, log: IdentityLog): Server {
    this.#server ??= createServerTls(this.#source, { log: this.#o.log ?? log, handshakeTimeoutMs: this.#o.handshakeTimeoutMs });
    const st = this.#server;
    const server = tls.createServer(st.options, st.guard((socket, peer) => {
      this.#peers.set(socket, peer.spiffeId);
      onSocket(socket);
    }));
    this.#detach.push(st.attach(server));
    return server;
  }

  peerIdentity(s: Socket): string | undefined {
    return this.#peers.get(s);
  }

  clientOptions(ep: Endpoint, upstream?: string): ConnectionOptions {
    const expected = this.#expected(ep, upstream);
    if (expected === undefined) {
      return this.#clientTls().refuseOptions(`no expected identity for ${ep.key}: discovery gave none and the upstream is unknown`);
    }
    return this.#clientTls().connectOptions(ep.key, expected);
  }

  /** Remember the sessions `socket` receives, so later dials to `ep` resume. */
  trackSession(socket: TLSSocket, ep: Endpoint, upstream?: string): void {
    const expected = this.#expected(ep, upstream);
    if (expected !== undefined) this.#clientTls().trackSession(socket, ep.key, expected);
  }

  async close(): Promise<void> {
    for (const d of this.#detach.splice(0)) d();
    this.#server?.close();
    this.#client?.close();
  }

  #clientTls(): ClientTls {
    this.#client ??= createClientTls(this.#source);
    return this.#client;
  }

  #expected(ep: Endpoint, upstream: string | undefined): string | undefined {
    if (ep.spec.identity !== undefined) return ep.spec.identity;
    return upstream === undefined ? undefined : expectedSpiffeId(upstream, ep.spec, this.#o.scope);
  }
}

export function createAgentTls(source: IdentitySource, opts: AgentTlsOptions): IdentityAgentTls {
  return new IdentityAgentTls(source, opts);
}
