/**
 * gRPC channel credentials for talking to the coordinator, shared by the
 * reporter and the `coordinator` identity source.
 *
 * The coordinator's certificate is checked against the mesh trust bundle and
 * by SPIFFE ID rather than host name (it may sit behind any address or a
 * Kubernetes Service): its URI SAN must be the expected coordinator ID, or by
 * default any ID of our trust domain whose service is `aim-mesh-coordinator`.
 * The agent presents its own leaf when it has a valid one.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { certFields } from './cert-fields.ts';
import { parseSpiffeId } from './spiffe-id.ts';

export const COORDINATOR_SERVICE_NAME = 'aim-mesh-coordinator';

export interface CoordinatorTls {
  readonly rootsPem: readonly string[];
  /** The agent's current key and leaf (absent before the first certificate). */
  readonly keyPem?: string;
  readonly certPem?: string;
}

export type CoordinatorIdentity = { readonly exact: string } | { readonly trustDomain: string };

/** Why `cert` is not the coordinator, or undefined when it is. */
export function coordinatorIdentityProblem(raw: Buffer | undefined, expect: CoordinatorIdentity): string | undefined {
  if (!raw) return 'the coordinator presented no certificate';
  let uris: readonly string[];
  try {
    uris = certFields(raw).uris.filter((u) => u.startsWith('spiffe://'));
  } catch {
    return 'the coordinator certificate is not valid DER';
  }
  if (uris.length !== 1) return `the coordinator certificate has ${uris.length} SPIFFE IDs, want 1`;
  const got = uris[0]!;
  if ('exact' in expect) return got === expect.exact ? undefined : `the coordinator is ${got}, expected ${expect.exact}`;
  const id = parseSpiffeId(got);
  if (id && id.trustDomain === expect.trustDomain && id.service === COORDINATOR_SERVICE_NAME) return undefined;
  return `the coordinator is ${got}, expected a ${COORDINATOR_SERVICE_NAME} identity in trust domain ${expect.trustDomain}`;
}

export function coordinatorCredentials(tls: CoordinatorTls, expect: CoordinatorIdentity): grpc.ChannelCredentials {
  if (tls.rootsPem.length === 0) throw new TypeError('no trust roots to verify the coordinator with');
  const withCert = tls.keyPem !== undefined && tls.certPem !== undefined;
  return grpc.credentials.createSsl(
    Buffer.from(tls.rootsPem.join('\n')),
    withCert ? Buffer.from(tls.keyPem!) : null,
    withCert ? Buffer.from(tls.certPem!) : null,
    {
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const problem = coordinatorIdentityProblem(cert.raw, expect);
        return problem === undefined ? undefined : new Error(problem);
      },
    },
  );
}

/** Channel options for control-plane clients: own connection, keepalive to notice a dead coordinator. */
export const coordinatorChannelOptions: grpc.ChannelOptions = {
  // TLS SNI: never the dialled IP (RFC 6066); the certificate is checked by SPIFFE ID anyway.
  'grpc.ssl_target_name_override': COORDINATOR_SERVICE_NAME,
  'grpc.use_local_subchannel_pool': 1,
  'grpc.keepalive_time_ms': 15_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 5_000,
};
