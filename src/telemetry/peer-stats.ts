/**
 * Inbound requests (and TCP connections) per caller identity, for the
 * `inbound_peer_requests_total{target,peer}` metric. The label is bounded:
 * the first `maxPeers` distinct SPIFFE IDs get their own series, every later
 * caller is counted under `other`, and a connection without a client
 * certificate under `none`. A filter with an O(1) Map bump per request.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';

export class PeerStats implements Filter {
  readonly name = 'peer-stats';
  readonly target: string;
  readonly counts = new Map<string, number>();
  readonly #max: number;

  constructor(target: string, maxPeers = 100) {
    this.target = target;
    this.#max = maxPeers;
  }

  onRequest(ctx: RequestCtx): 0 {
    let key = ctx.peerIdentity ?? 'none';
    if (!this.counts.has(key) && this.counts.size >= this.#max) key = 'other';
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    return 0;
  }
}
