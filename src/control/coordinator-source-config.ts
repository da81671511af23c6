/**
 * The `identity.coordinator` config section and the factory the agent hands
 * to `createIdentitySource` (src/identity/create-source.ts `deps.coordinator`)
 * so that `identity.source: coordinator` builds a CoordinatorIdentitySource.
 * Kept out of the identity module so the data path never loads gRPC unless
 * this source is chosen.
 *
 *   identity:
 *     source: coordinator
 *     coordinator:
 *       address: aim-mesh-coordinator.aim-mesh:15010   # host:port of Identity.Certify
 *       ca_file: /etc/aim-mesh/trust-bundle.pem        # anchors that verify the coordinator
 *       join_token_file: /var/run/secrets/aim-mesh/join-token   # or join_token: ...
 *       coordinator_id: spiffe://aim.local/ns/default/dc/dc1/svc/aim-mesh-coordinator  # optional
 *       request_timeout: 10s
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { duration } from '../config/duration.ts';
import type { IdentityLog } from '../identity/log.ts';
import type { IdentityOptions } from '../identity/options.ts';
import type { ManagedIdentitySource } from '../identity/signals.ts';
import { CoordinatorIdentitySource } from '../identity/sources/coordinator.ts';
import { splitPemCertificates } from '../identity/pem.ts';

export const coordinatorSourceSchema = z.object({
  address: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port'),
  ca_file: z.string().min(1),
  join_token: z.string().min(8).optional(),
  join_token_file: z.string().min(1).optional(),
  coordinator_id: z.string().startsWith('spiffe://').optional(),
  request_timeout: duration.default(10_000),
}).strict().refine((c) => !(c.join_token && c.join_token_file), 'use join_token or join_token_file, not both');

export type CoordinatorSourceConfig = z.infer<typeof coordinatorSourceSchema>;

/** Parse `identity.coordinator`; throws a TypeError naming each bad key. */
export function parseCoordinatorSourceConfig(raw: unknown): CoordinatorSourceConfig {
  const r = coordinatorSourceSchema.safeParse(raw ?? {});
  if (!r.success) {
    throw new TypeError(`identity.coordinator:\n${r.error.issues.map((i) => `  identity.coordinator.${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`);
  }
  return r.data;
}

/** The `deps.coordinator` factory for createIdentitySource. Reads ca_file and join_token_file once, at startup. */
export function coordinatorSourceFactory(log?: IdentityLog): (opts: IdentityOptions, spiffeId: string) => ManagedIdentitySource {
  return (opts, spiffeId) => {
    const c = parseCoordinatorSourceConfig(opts.coordinator);
    const rootsPem = splitPemCertificates(readFileSync(c.ca_file, 'utf8'));
    if (rootsPem.length === 0) throw new TypeError(`identity.coordinator.ca_file: ${c.ca_file} holds no certificate`);
    const joinToken = c.join_token ?? (c.join_token_file ? readFileSync(c.join_token_file, 'utf8').trim() : undefined);
    return new CoordinatorIdentitySource({
      target: c.address, spiffeId, rootsPem, joinToken, coordinatorSpiffeId: c.coordinator_id,
      renewFraction: opts.renew_fraction, requestTimeoutMs: c.request_timeout, log,
    });
  };
}
