/**
 * Agent-side wiring of the reporter: the `coordinator:` section of the agent
 * config, and `startAgentReporter`, which ties a Reporter to the agent's
 * identity source:
 *   - the stream authenticates with the identity in force (leaf + chain);
 *   - after every rotation the stream is re-dialled with the new leaf;
 *   - a "rotate certificate now" directive calls `identity.renew()`.
 * The agent passes its own snapshot function (listeners, upstream endpoint
 * states, per-interval golden metrics) and policy callback. The config
 * section's schema is in report-options.ts (validating a config must not load gRPC).
 */
import type { Logger } from 'pino';
import type { IdentitySource } from '../identity/types.ts';
import type { WirePolicy } from '../proto/types.ts';
import { Reporter } from './reporter.ts';
import type { CoordinatorReportConfig } from './report-options.ts';
import type { AgentSnapshot } from './snapshot.ts';

export { coordinatorReportSchema, type CoordinatorReportConfig } from './report-options.ts';

export interface AgentReporterDeps {
  /** A started identity source (the agent starts it before binding its mTLS port). */
  readonly identity: IdentitySource;
  readonly snapshot: () => AgentSnapshot;
  readonly onPolicy?: (policy: WirePolicy, version: number) => void;
  readonly log?: Logger;
}

export interface AgentReporter {
  readonly reporter: Reporter;
  stop(): void;
}

export function startAgentReporter(cfg: CoordinatorReportConfig, deps: AgentReporterDeps): AgentReporter {
  const first = deps.identity.current();
  if (!first) throw new Error('the identity source must be started before the coordinator reporter');
  const reporter = new Reporter({
    target: cfg.address,
    intervalMs: cfg.interval,
    snapshot: deps.snapshot,
    coordinatorIdentity: cfg.coordinator_id ? { exact: cfg.coordinator_id } : { trustDomain: first.trustDomain },
    tls: () => {
      const m = deps.identity.current();
      return m && { rootsPem: m.rootsPem, keyPem: m.keyPem, certPem: [m.certPem, ...m.chainPem].join('\n') };
    },
    ...(deps.onPolicy ? { onPolicy: deps.onPolicy } : {}),
    onRotateCertificate: (reason) => {
      deps.log?.info({ reason }, 'coordinator asked for a certificate rotation');
      deps.identity.renew().catch((err: unknown) => deps.log?.warn({ err: (err as Error).message }, 'rotation requested by the coordinator failed'));
    },
    ...(deps.log ? { log: deps.log } : {}),
  });
  const unsubscribe = deps.identity.onUpdate(() => reporter.reconnect());
  reporter.start();
  return { reporter, stop: () => { unsubscribe(); reporter.stop(); } };
}
