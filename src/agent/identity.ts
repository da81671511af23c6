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
import { identitySchema, type IdentityOptions } from '../identity/options.ts';
import { createIdentitySource } from '../identity/create-source.ts';
import { createAgentTls } from '../identity/agent-tls.ts';
import { CA_CERT_FILE, initCa } from '../identity/ca.ts';
import { ConfigError, zodIssues } from '../config/yaml-schema.ts';
import type { ManagedIdentitySource } from '../identity/signals.ts';
import type { AgentTls } from './tls.ts';

/** Identity flags override the `identity:` section: --identity, --ca-dir, --cert/--key/--ca, --trust-domain. */
export function identityOptions(config: AgentConfig, flags: Record<string, string>): IdentityOptions {
  const raw: Record<string, unknown> = { ...config.identity };
  if (flags.identity !== undefined) raw.source = flags.identity;
  if (flags['ca-dir'] !== undefined) raw.ca_dir = flags['ca-dir'];
  if (flags['trust-domain'] !== undefined) raw.trust_domain = flags['trust-domain'];
  if (flags.cert !== undefined || flags.key !== undefined || flags.ca !== undefined) {
    raw.source = flags.identity ?? 'files';
    if (flags.cert !== undefined) raw.cert_file = flags.cert;
    if (flags.key !== undefined) raw.key_file = flags.key;
    if (flags.ca !== undefined) raw.ca_file = flags.ca;
  }
  if (raw.source === 'coordinator') {
    // The Certify endpoint is the coordinator's gRPC address; its trust anchors and the join token
    // come from config, flags or the environment (the injector sets AIM_MESH_JOIN_TOKEN).
    const c: Record<string, unknown> = { ...(config.identity.coordinator ?? {}) };
    if (c.address === undefined && config.coordinator !== undefined) c.address = config.coordinator.address;
    if (flags['coordinator-ca'] !== undefined) c.ca_file = flags['coordinator-ca'];
    if (flags['join-token-file'] !== undefined) c.join_token_file = flags['join-token-file'];
    if (c.join_token === undefined && c.join_token_file === undefined && process.env.AIM_MESH_JOIN_TOKEN) c.join_token = process.env.AIM_MESH_JOIN_TOKEN;
    raw.coordinator = c;
  }
  const res = identitySchema.safeParse(raw);
  if (!res.success) throw new ConfigError(zodIssues(res.error, 'flags', raw).map((i) => ({ ...i, path: `identity.${i.path}` })));
  return res.data;
}

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
