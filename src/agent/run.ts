/**
 * Running an agent as a process: logger, identity, agent, admin server and
 * signal handling. SIGTERM/SIGINT drain gracefully and exit 0; a second
 * signal exits at once.
 */
import type { Server } from 'node:http';
import type { AgentConfig } from '../config/schema.ts';
import { createLogger, type Logger } from '../telemetry/log.ts';
import { createAdminServer } from '../admin/server.ts';
import { Agent } from './agent.ts';
import type { AgentTls } from './tls.ts';
import type { AgentIdentity } from './identity.ts';

export interface RunningAgent {
  readonly agent: Agent;
  readonly admin: Server;
  readonly adminPort: number;
  /** Drain, close the admin server; resolves when everything is closed. */
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, opts: { log?: Logger; tls?: AgentTls; onQuit?: () => void } = {}): Promise<RunningAgent> {
  const log = opts.log ?? createLogger({ level: config.log.level }, { service: config.service.name });
  const agent = new Agent(config, { log, tls: opts.tls });
  const identity = (opts.tls as AgentIdentity | undefined)?.source;
  if (identity !== undefined) {
    // /certs and the identity_cert_* gauges read the live identity source.
    agent.certsInfo = () => identity.describe();
    agent.metrics.sources.setIdentity(identity.signals);
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await agent.drain();
      await new Promise<void>((r) => admin.close(() => r()));
    })();
    return stopping;
  };
  const admin = createAdminServer({ agent, quit: () => { void stop().then(() => opts.onQuit?.()); } }, config.admin.token, log.child({ component: 'admin' }));
  // Admin first, so /ready can say "listeners not bound" while starting.
  await new Promise<void>((resolve, reject) => {
    admin.once('error', (e) => reject(new Error(`admin: cannot bind ${config.admin.bind.host}:${config.admin.bind.port}: ${e.message}`)));
    admin.listen(config.admin.bind.port, config.admin.bind.host, () => resolve());
  });
  const a = admin.address();
  const adminPort = typeof a === 'object' && a !== null ? a.port : config.admin.bind.port;
  try {
    await agent.start();
  } catch (err) {
    admin.close();
    await agent.drain().catch(() => {});
    throw err;
  }
  log.info({ admin: `${config.admin.bind.host}:${adminPort}` }, 'admin listening');
  return { agent, admin, adminPort, stop };
}

/** Install SIGTERM/SIGINT handlers that drain and exit. */
export function exitOnSignals(r: RunningAgent, log: Logger): void {
  let signalled = false;
  const onSignal = (sig: string): void => {
    if (signalled) { log.warn({ signal: sig }, 'second signal: exiting now'); process.exit(1); }
    signalled = true;
    log.info({ signal: sig }, 'shutting down');
    void r.stop().then(() => { log.flush?.(); process.exit(0); });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
