/**
 * The directive hub: holds the current policy and its version, and the send
 * functions of every connected agent stream. A new stream gets the policy at
 * once; a policy change is pushed to all; "rotate certificate now" goes to one
 * agent or every agent of a service.
 */
import type { Directive, WirePolicy } from '../proto/types.ts';
import { emptyPolicy } from './policy.ts';

export type DirectiveSink = (d: Directive) => void;

interface Subscriber {
  readonly agentId: string;
  readonly service: string;
  readonly send: DirectiveSink;
}

export class DirectiveHub {
  #policy: WirePolicy;
  #version = 1;
  readonly #subs = new Set<Subscriber>();

  constructor(policy: WirePolicy = emptyPolicy) {
    this.#policy = policy;
  }

  get version(): number { return this.#version; }
  policy(): WirePolicy { return this.#policy; }

  /** Register a stream; it receives the current policy immediately. Returns the unsubscribe function. */
  subscribe(agentId: string, service: string, send: DirectiveSink): () => void {
    const s: Subscriber = { agentId, service, send };
    this.#subs.add(s);
    send({ version: this.#version, policy: this.#policy });
    return () => { this.#subs.delete(s); };
  }

  /** Replace the policy and push it to every connected agent. Returns how many streams it reached. */
  setPolicy(p: WirePolicy): number {
    this.#policy = p;
    this.#version++;
    return this.#broadcast(() => true, { version: this.#version, policy: p });
  }

  /** Ask agents to renew their certificate now. Returns how many streams were told. */
  rotateCertificate(target: { agentId?: string; service?: string }, reason: string): number {
    const match = (s: Subscriber): boolean =>
      (target.agentId === undefined || s.agentId === target.agentId) && (target.service === undefined || s.service === target.service);
    return this.#broadcast(match, { version: this.#version, rotateCertificate: { reason } });
  }

  get connected(): number { return this.#subs.size; }

  #broadcast(match: (s: Subscriber) => boolean, d: Directive): number {
    let n = 0;
    for (const s of this.#subs) {
      if (!match(s)) continue;
      s.send(d);
      n++;
    }
    return n;
  }
}
