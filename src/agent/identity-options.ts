/**
 * The identity options in force: the `identity:` config section with the identity
 * flags applied. Apart from identity.ts so that the `--workers` primary, which
 * needs only these options (to create the local CA before forking), does not load
 * the identity sources and TLS contexts.
 */
import type { AgentConfig } from '../config/schema.ts';
import { ConfigError, zodIssues } from '../config/yaml-schema.ts';
import { identitySchema, type IdentityOptions } from '../identity/options.ts';

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
