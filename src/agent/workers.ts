/**
 * `--workers N`: the agent as N processes sharing its listeners through
 * node:cluster (the primary accepts and hands connections round-robin).
 * The primary owns nothing on the data path: it prepares shared state (the
 * local dev CA, so workers do not race to create it), forks, forwards
 * SIGTERM/SIGINT so every worker drains, replaces a worker that crashes, and
 * exits once all have stopped. Each worker runs the ordinary agent (and so its
 * own admin endpoints on the shared admin port: /metrics is per worker).
 *
 * The primary loads config and logging only (not the agent, the identity
 * sources or the certificate code), so it stays near a bare Node process. Workers
 * re-run the primary's entry point (process.argv[1]: bin/aim-mesh.js, or
 * dist/cli/index.js or src/cli/index.ts when run directly) with its Node flags,
 * so they run the same build: dist/ when the primary does.
 */
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/log.ts';
import { identityOptions } from './identity-options.ts';
import { CA_CERT_FILE } from '../identity/ca-files.ts';

export async function runPrimary(config: AgentConfig, identityFlags: Record<string, string>, log: Logger): Promise<number> {
  if (config.inbound.mtls) {
    const opts = identityOptions(config, identityFlags);
    if (opts.source === 'local-ca' && !existsSync(join(opts.ca_dir, CA_CERT_FILE))) {
      const { initCa } = await import('../identity/ca.ts');
      await initCa(opts.ca_dir, { trustDomain: opts.trust_domain });
      log.warn({ ca_dir: opts.ca_dir }, 'created a local dev CA (keep its key out of version control)');
    }
  }
  let stopping = false;
  const fork = (): void => { cluster.fork(); };
  for (let i = 0; i < config.workers; i++) fork();
  log.info({ workers: config.workers }, 'agent primary started workers');
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    log.error({ worker: w.process.pid, code, signal }, 'agent worker exited unexpectedly; starting a new one');
    fork();
  });
  const stop = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'draining workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(sig);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await new Promise<void>((resolve) => {
    const check = (): void => { if (stopping && Object.keys(cluster.workers ?? {}).length === 0) resolve(); };
    cluster.on('exit', check);
  });
  return 0;
}
