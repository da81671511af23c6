/**
 * Identity: where an agent's workload certificate comes from, and what the
 * TLS layer needs from it.
 *
 * Four sources implement `IdentitySource` (local-ca, coordinator, consul,
 * files). The TLS contexts (identity/tls-context.ts) subscribe to updates and
 * hot-swap with `setSecureContext`, so rotation never drops connections.
 */

export interface IdentityMaterial {
  /** PEM private key of the leaf (never leaves the agent). */
  readonly keyPem: string;
  /** PEM leaf certificate. */
  readonly certPem: string;
  /** PEM intermediates, leaf-issuer first (may be empty). */
  readonly chainPem: readonly string[];
  /** PEM trust bundle: every root accepted now (old and new during a rotation overlap). */
  readonly rootsPem: readonly string[];
  /** The leaf's SPIFFE ID, e.g. spiffe://aim.local/ns/default/dc/dc1/svc/web */
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface IdentitySource {
  /** 'local-ca' | 'coordinator' | 'consul' | 'files' */
  readonly kind: string;
  /** Obtain the first identity (resolves once a usable leaf is in hand), then keep it fresh. */
  start(): Promise<IdentityMaterial>;
  /** The identity in force now (undefined before start() resolved). */
  current(): IdentityMaterial | undefined;
  /** Called after every rotation of leaf or roots. Returns an unsubscribe function. */
  onUpdate(listener: (m: IdentityMaterial) => void): () => void;
  /** Force a renewal now (admin / coordinator "rotate certificate now"). */
  renew(): Promise<IdentityMaterial>;
  close(): Promise<void>;
}

/** The parts of a SPIFFE ID in Consul's form: spiffe://<td>/ns/<ns>/dc/<dc>/svc/<service>. */
export interface SpiffeId {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly datacenter: string;
  readonly service: string;
}
