/**
 * Who is on the other end of a gRPC call: the SPIFFE ID of the client's leaf.
 *
 * The TLS server requests a client certificate but does not require one
 * (Certify must accept join-token callers without a cert), so Node verifies the
 * chain against the trust bundle and grpc-js exposes the certificate only when
 * that verification passed (`socket.authorized`). On top of that we check what
 * Node does not: exactly one spiffe:// URI SAN in our trust domain, CA:FALSE,
 * and that the leaf is still valid now (a long-lived stream can outlive it).
 */
import type { SpiffeId } from '../identity/types.ts';
import { certFields } from '../control/cert-fields.ts';
import { parseSpiffeId } from '../control/spiffe-id.ts';

export interface PeerIdentity {
  readonly spiffeId: string;
  readonly id: SpiffeId;
  readonly notAfterMs: number;
}

export type PeerCheck =
  | { readonly ok: true; readonly peer: PeerIdentity }
  | { readonly ok: false; readonly why: string; readonly presented: boolean };

export function peerIdentity(
  call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null },
  trustDomain: string,
  nowMs: number,
): PeerCheck {
  const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
  if (!raw) return { ok: false, why: 'no verified client certificate', presented: false };
  let f;
  try {
    f = certFields(raw);
  } catch {
    return { ok: false, why: 'client certificate is not valid DER', presented: true };
  }
  if (f.isCa) return { ok: false, why: 'client certificate is a CA', presented: true };
  const spiffe = f.uris.filter((u) => u.toLowerCase().startsWith('spiffe://'));
  if (spiffe.length !== 1) return { ok: false, why: `client certificate has ${spiffe.length} spiffe URI SANs, want exactly 1`, presented: true };
  const id = parseSpiffeId(spiffe[0]!);
  if (!id) return { ok: false, why: `client SPIFFE ID '${spiffe[0]}' is not in Consul form`, presented: true };
  if (id.trustDomain !== trustDomain) return { ok: false, why: `client trust domain '${id.trustDomain}' is not '${trustDomain}'`, presented: true };
  if (!(nowMs >= f.notBeforeMs && nowMs < f.notAfterMs)) return { ok: false, why: 'client certificate is not valid now', presented: true };
  return { ok: true, peer: { spiffeId: spiffe[0]!, id, notAfterMs: f.notAfterMs } };
}
