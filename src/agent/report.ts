/**
 * The agent's side of the coordinator link: builds the snapshot the reporter
 * sends (listeners, endpoint states, per-interval golden metrics per edge,
 * certificate, readiness) and starts the reporter. Never on the request path:
 * if the coordinator is down, the reporter retries in the background.
 */
import type { Logger } from '../telemetry/log.ts';
import type { AgentSnapshot, EdgeInfo, EndpointState } from '../control/snapshot.ts';
import type { CoordinatorReportConfig } from '../control/report-options.ts';
import type { IdentitySource } from '../identity/types.ts';
import { version } from '../version.ts';
import type { Agent } from './agent.ts';

export interface AgentReporterHandle { stop(): void }

export function agentSnapshot(agent: Agent, identity: IdentitySource | undefined): AgentSnapshot {
  const cfg = agent.config;
  const now = performance.now();
  const state = (e: { ejectedUntil: number; breakerOpen: boolean }): EndpointState => (e.breakerOpen ? 'breaker_open' : e.ejectedUntil > now ? 'ejected' : 'healthy');
  const edges: EdgeInfo[] = [];
  for (const [name, g] of agent.golden) {
    if (name === 'inbound') continue;
    const budget = agent.clusters.get(name)?.resilience?.budget;
    edges.push({ upstream: name, metrics: g.take(), retries: agent.clusters.get(name)?.resilience?.retryStats.retries ?? 0,
      retryBudgetRemaining: budget ? remainingFraction(budget) : 1, mtls: cfg.inbound.mtls });
  }
  const m = identity?.current();
  const missing = agent.notReady();
  return {
    agentId: `${cfg.node}:${cfg.service.name}:${agent.listeners.find((l) => l.name === 'inbound')?.port ?? 0}`,
    service: cfg.service.name,
    instance: `${cfg.node}:${agent.listeners.find((l) => l.name === 'inbound')?.port ?? 0}`,
    version,
    listeners: agent.listeners.map((l) => ({ name: l.name, direction: l.name === 'inbound' ? 'inbound' as const : 'outbound' as const,
      address: l.o.bind.host, port: l.port, protocol: l.o.protocol, mtls: l.name === 'inbound' && cfg.inbound.mtls })),
    upstreams: [...agent.clusters.values()].map((c) => ({ service: c.name, endpoints: c.endpoints.list.map((e) => ({ address: e.spec.address, port: e.spec.port, state: state(e) })) })),
    edges,
    inbound: agent.golden.get('inbound')?.take(),
    ...(m ? { cert: { spiffeId: m.spiffeId, serial: m.serial, notBeforeMs: m.notBefore.getTime(), notAfterMs: m.notAfter.getTime() } } : {}),
    readiness: { ready: missing.length === 0, reasons: missing },
  };
}

/** 0..1 of the retry budget left: 1 while at least 10 retries are affordable, falling to 0 as it burns. */
function remainingFraction(budget: { balance(): number }): number {
  return Math.min(1, budget.balance() / 10);
}

/** Start reporting to the coordinator (gRPC is loaded only here). */
export async function startReporting(agent: Agent, cfg: CoordinatorReportConfig, identity: IdentitySource, log: Logger): Promise<AgentReporterHandle> {
  const { startAgentReporter } = await import('../control/agent-reporter.ts');
  const r = startAgentReporter(cfg, { identity, snapshot: () => agentSnapshot(agent, identity), log: log.child({ component: 'coordinator' }) });
  return { stop: () => r.stop() };
}
