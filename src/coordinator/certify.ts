/**
 * Identity.Certify, server side: decide whether the caller may hold the
 * requested SPIFFE ID, check the CSR, and sign a leaf for the CSR's key.
 *
 * The caller proves its claim with either
 *   - its current valid leaf (mTLS on this connection): the requested ID must be
 *     exactly the leaf's ID — renewal never changes identity; or
 *   - a join token from config, mapped to the services it may claim.
 * A CSR whose own URI SANs name another identity is refused, so a CSR cannot
 * smuggle a second identity past the check. The private key never comes here.
 */
import * as grpc from '@grpc/grpc-js';
import forge from 'node-forge';
import type { CertifyRequest, CertifyResponse } from '../proto/types.ts';
import type { JoinTokens } from './join-tokens.ts';
import type { PeerCheck } from './peer-identity.ts';
import type { Signer } from './signer.ts';
import { parseSpiffeId } from '../control/spiffe-id.ts';

export type CertifyVerdict =
  | { readonly ok: true; readonly via: 'certificate' | 'join_token'; readonly service: string }
  | { readonly ok: false; readonly code: grpc.status; readonly message: string };

const deny = (code: grpc.status, message: string): CertifyVerdict => ({ ok: false, code, message });

/** The authorization decision alone (pure). */
export function authorizeCertify(
  req: { spiffeId: string; joinToken?: string | null | undefined },
  peer: PeerCheck,
  tokens: JoinTokens,
  trustDomain: string,
): CertifyVerdict {
  const id = parseSpiffeId(req.spiffeId);
  if (!id) return deny(grpc.status.INVALID_ARGUMENT, `'${req.spiffeId}' is not a SPIFFE ID of the form spiffe://<td>/ns/<ns>/dc/<dc>/svc/<service>`);
  if (id.trustDomain !== trustDomain) return deny(grpc.status.PERMISSION_DENIED, `trust domain '${id.trustDomain}' is not served here ('${trustDomain}')`);
  if (peer.ok && peer.peer.spiffeId === req.spiffeId) return { ok: true, via: 'certificate', service: id.service };
  const token = req.joinToken ?? '';
  if (token !== '') {
    const t = tokens.check(token, id.service);
    if (t.ok) return { ok: true, via: 'join_token', service: id.service };
    if (t.why === 'unknown_token') return deny(grpc.status.UNAUTHENTICATED, 'join token not recognised');
    return deny(grpc.status.PERMISSION_DENIED, `join token may not claim service '${id.service}'`);
  }
  if (peer.ok) return deny(grpc.status.PERMISSION_DENIED, `caller is ${peer.peer.spiffeId}; it may not obtain ${req.spiffeId}`);
  return deny(grpc.status.UNAUTHENTICATED, `no credentials: present a valid leaf or a join token (${peer.why})`);
}

export type CsrCheck =
  | { readonly ok: true; readonly publicKey: forge.pki.PublicKey }
  | { readonly ok: false; readonly code: grpc.status; readonly message: string };

/** Parse and verify a CSR; its URI SANs, if any, must all equal `spiffeId`. */
export function checkCsr(csrPem: string, spiffeId: string): CsrCheck {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    return { ok: false, code: grpc.status.INVALID_ARGUMENT, message: `CSR could not be parsed (RSA keys only): ${(err as Error).message}` };
  }
  let verified = false;
  try { verified = csr.verify(); } catch { /* forge throws on a malformed signature block */ }
  if (!verified) return { ok: false, code: grpc.status.INVALID_ARGUMENT, message: 'CSR signature does not verify' };
  const req = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: { name?: string; altNames?: { type: number; value?: string }[] }[] } | null;
  for (const ext of req?.extensions ?? []) {
    if (ext.name !== 'subjectAltName') continue;
    for (const n of ext.altNames ?? []) {
      if (n.type === 6 && n.value !== spiffeId) {
        return { ok: false, code: grpc.status.PERMISSION_DENIED, message: `CSR names identity '${n.value}', not '${spiffeId}'` };
      }
    }
  }
  if (!csr.publicKey) return { ok: false, code: grpc.status.INVALID_ARGUMENT, message: 'CSR has no public key' };
  return { ok: true, publicKey: csr.publicKey };
}

export interface CertifyDeps {
  readonly signer: Signer;
  readonly tokens: JoinTokens;
  readonly trustDomain: string;
  readonly leafTtlMs: number;
  /** Wall clock, ms. */
  readonly now: () => number;
  readonly peer: (call: grpc.ServerUnaryCall<CertifyRequest, CertifyResponse>) => PeerCheck;
  /** Called once per request with its outcome (metrics, logs). */
  readonly onResult?: (outcome: { ok: boolean; via?: string; spiffeId: string; code?: grpc.status; message?: string }) => void;
}

export function certifyHandler(deps: CertifyDeps): grpc.handleUnaryCall<CertifyRequest, CertifyResponse> {
  return (call, callback) => {
    const req = call.request;
    const fail = (code: grpc.status, message: string): void => {
      deps.onResult?.({ ok: false, spiffeId: req.spiffeId, code, message });
      callback({ code, details: message });
    };
    const verdict = authorizeCertify(req, deps.peer(call), deps.tokens, deps.trustDomain);
    if (!verdict.ok) return fail(verdict.code, verdict.message);
    const csr = checkCsr(req.csrPem, req.spiffeId);
    if (!csr.ok) return fail(csr.code, csr.message);
    let leaf;
    try {
      leaf = deps.signer.sign({ publicKey: csr.publicKey, spiffeId: req.spiffeId, commonName: verdict.service, ttlMs: deps.leafTtlMs, nowMs: deps.now() });
    } catch (err) {
      return fail(grpc.status.INTERNAL, `signing failed: ${(err as Error).message}`);
    }
    deps.onResult?.({ ok: true, via: verdict.via, spiffeId: req.spiffeId });
    callback(null, { leafPem: leaf.certPem, chainPem: [...deps.signer.chainPem()], rootsPem: [...deps.signer.rootsPem()], notAfter: leaf.notAfter.getTime() });
  };
}
