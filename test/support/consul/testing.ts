/**
 * Fixtures for tests that drive our Consul discovery against the test
 * server: remote Connect instances on other nodes, and a recorder of what a
 * resolver yields.
 */
import type { EndpointSetUpdate, Resolver } from '../../../src/discovery/types.ts';
import type { ConsulTestServer } from './index.ts';
import type { CheckStatus } from './types.ts';

/** Put a connect-proxy for `service` on node `node` (as another host's agent would), with serfHealth and one check. */
export function addRemoteProxy(consul: ConsulTestServer, o: {
  service: string; node: string; address?: string; port: number; status?: CheckStatus; tags?: string[];
  weights?: { Passing: number; Warning: number }; meta?: Record<string, string>;
}): string {
  const id = `${o.service}-${o.node}-sidecar-proxy`;
  consul.catalog.register({
    node: o.node, address: o.address ?? '127.0.0.1',
    service: {
      Service: `${o.service}-sidecar-proxy`, ID: id, Kind: 'connect-proxy', Port: o.port, Address: o.address ?? '127.0.0.1',
      Tags: o.tags ?? [], Meta: o.meta ?? {}, Weights: o.weights ?? { Passing: 1, Warning: 1 },
      Proxy: { DestinationServiceName: o.service, DestinationServiceID: o.service, LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080 },
    },
    checks: [
      { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
      { CheckID: `${id}:agent`, Status: o.status ?? 'passing', ServiceID: id },
    ],
  });
  return id;
}

export function setRemoteStatus(consul: ConsulTestServer, node: string, checkId: string, serviceId: string, status: CheckStatus): void {
  consul.catalog.register({ node, address: '127.0.0.1', checks: [{ CheckID: checkId, Status: status, ServiceID: serviceId }] });
}

export interface Recorder {
  readonly updates: Array<EndpointSetUpdate & { at: number }>;
  /** Resolves with the first update (from now on, or already seen if `seen` allows) matching `pred`. */
  next(pred: (u: EndpointSetUpdate) => boolean, timeoutMs?: number): Promise<EndpointSetUpdate>;
  stop(): void;
}

export function record(resolver: Resolver, service: string): Recorder {
  const ac = new AbortController();
  const updates: Array<EndpointSetUpdate & { at: number }> = [];
  let waiters: Array<() => void> = [];
  void (async () => {
    for await (const u of resolver.watch(service, ac.signal)) {
      updates.push({ ...u, at: Date.now() });
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  })();
  return {
    updates,
    async next(pred, timeoutMs = 5000) {
      const from = updates.length;
      const deadline = Date.now() + timeoutMs;
      let checked = Math.max(0, from - 1);
      for (;;) {
        for (; checked < updates.length; checked++) if (checked >= from - 1 && checked >= 0 && updates[checked] && pred(updates[checked]!)) return updates[checked]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching update for ${service} within ${timeoutMs}ms; last: ${JSON.stringify(updates.at(-1)?.endpoints.map((e) => `${e.address}:${e.port}`))}`);
        await new Promise<void>((r) => { const t = setTimeout(r, left); waiters.push(() => { clearTimeout(t); r(); }); });
      }
    },
    stop: () => ac.abort(),
  };
}

export const ports = (u: EndpointSetUpdate | undefined): number[] => (u?.endpoints ?? []).map((e) => e.port).sort((a, b) => a - b);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
