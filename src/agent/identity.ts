/**
 * Bridge from config + identity flags to the AgentTls the agent needs:
 * build the identity source named by `identity.source` (or the flags),
 * obtain the first leaf, and wrap the identity area's TLS contexts.
 *
 * Zero configuration: `local-ca` from `identity.ca_dir`; when that directory
 * has no CA yet, a local dev CA is created there (with a log line), so
 * `npm start` and a bare `aim-mesh agent` work on a fresh machine. The CA
 * key is written 0600 and git-ignored; it is never committed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/log.ts';
import { createIdentitySource } from '../identity/create-source.ts';
import { createAgentTls } from '../identity/agent-tls.ts';
import { CA_CERT_FILE, initCa } from '../identity/ca.ts';
import type { ManagedIdentitySource } from '../identity/signals.ts';
import type { AgentTls } from './tls.ts';
import { identityOptions } from './identity-options.ts';

export interface AgentIdentity extends AgentTls {
  readonly source: ManagedIdentitySource;
}

export async function buildAgentTls(config: AgentConfig, flags: Record<string, string>, log: Logger): Promise<AgentIdentity> {
  const opts = identityOptions(config, flags);
  const ilog = log.child({ component: 'identity' });
  if (opts.source === 'local-ca' && !existsSync(join(opts.ca_dir, CA_CERT_FILE))) {
    await initCa(opts.ca_dir, { trustDomain: opts.trust_domain }).catch((err: Error) => {
      // Another agent created it at the same moment: use theirs.
      if (!existsSync(join(opts.ca_dir, CA_CERT_FILE))) throw err;
    });
    ilog.warn({ ca_dir: opts.ca_dir, trust_domain: opts.trust_domain }, 'created a local dev CA (keep its key out of version control)');
  }
  // The coordinator source brings gRPC: loaded only when chosen.
  const coordinator = opts.source === 'coordinator' ? (await import('../control/coordinator-source-config.ts')).coordinatorSourceFactory(ilog) : undefined;
  const source = createIdentitySource(opts, { service: config.service.name, log: ilog, ...(coordinator ? { coordinator } : {}) });
  await source.start();
  const tls = createAgentTls(source, { scope: { trustDomain: opts.trust_domain, namespace: opts.namespace, datacenter: opts.datacenter }, log: ilog });
  return {
    source,
    ready: () => tls.ready(),
    createServer: (onSocket, l) => tls.createServer(onSocket, l),
    peerIdentity: (s) => tls.peerIdentity(s),
    // The expected identity is the endpoint's own (from discovery), else its service's Consul-form ID.
    clientOptions: (ep) => tls.clientOptions(ep, ep.service || undefined),
    trackSession: (s, ep) => tls.trackSession(s, ep, ep.service || undefined),
    describe: () => source.describe(),
    close: async () => { await tls.close(); await source.close(); },
  };
}
