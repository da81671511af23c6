/**
 * The `coordinator` identity source: the agent generates its key locally,
 * sends only a CSR to the coordinator's Identity.Certify over gRPC, and gets
 * its leaf, intermediates and the trust bundle back (Linkerd's identity
 * model: the private key never leaves the agent).
 *
 *  - Bootstrap: with no leaf yet, the agent proves its claim with a join
 *    token; renewals present the current leaf instead (mTLS on the call),
 *    falling back to the token only once that leaf has expired.
 *  - Renewal at ~70% of the leaf's lifetime, with a fresh RSA-2048 key each
 *    time (the coordinator's signer takes RSA CSRs; see coordinator/signer.ts).
 *  - The coordinator being down never takes the identity away: the leaf in
 *    force stays until it expires while renewal retries with backoff
 *    (renewal.ts: never past a quarter of the time left).
 *  - start() retries while the coordinator is unreachable but fails fast when
 *    it refuses the claim (bad token, wrong identity): that is configuration.
 *  - Every leaf goes through materialFromPem: our key, one SPIFFE ID (the one
 *    asked for), chains to the returned bundle, not expired.
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import forge from 'node-forge';
import { coordinatorChannelOptions, coordinatorCredentials, type CoordinatorIdentity } from '../../control/coordinator-channel.ts';
import { asForgeKey, nativeRsaKey } from '../../control/native-rsa-sign.ts';
import { controlPlaneProtos } from '../../proto/load.ts';
import type { CertifyRequest, CertifyResponse } from '../../proto/types.ts';
import { materialFromPem } from '../material.ts';
import { renewAt, retryDelay } from '../renewal.ts';
import { SourceBase, type SourceBaseOptions } from '../source-base.ts';
import { parseSpiffeId } from '../spiffe.ts';
import type { IdentityMaterial } from '../types.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface CoordinatorSourceOptions extends SourceBaseOptions {
  /** Coordinator host:port. */
  readonly target: string;
  /** The identity to obtain (Consul form). */
  readonly spiffeId: string;
  /** Trust anchors that verify the coordinator until the first leaf brings the bundle. */
  readonly rootsPem: readonly string[];
  readonly joinToken?: string | undefined;
  /** Expected coordinator SPIFFE ID; default: service `aim-mesh-coordinator` in our trust domain. */
  readonly coordinatorSpiffeId?: string | undefined;
  /** Fraction of the lifetime after which to renew (default 0.7). */
  readonly renewFraction?: number | undefined;
  readonly requestTimeoutMs?: number | undefined;
}

/** Status codes that mean "you may not have this identity", as opposed to "try again later". */
const REFUSALS = new Set<number>([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED, grpc.status.INVALID_ARGUMENT]);

export class CoordinatorIdentitySource extends SourceBase {
  readonly kind = 'coordinator';
  readonly #o: CoordinatorSourceOptions;
  readonly #trustDomain: string;
  readonly #expect: CoordinatorIdentity;
  readonly #fraction: number;
  #inflight: Promise<IdentityMaterial> | undefined;
  #attempt = 0;
  #startWait: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  constructor(o: CoordinatorSourceOptions) {
    super(o);
    const id = parseSpiffeId(o.spiffeId);
    if (!id.ok) throw new RangeError(`coordinator: ${o.spiffeId} is not a service SPIFFE ID: ${id.error}`);
    if (o.rootsPem.length === 0) throw new RangeError('coordinator: trust roots are required to verify the coordinator');
    this.#fraction = o.renewFraction ?? 0.7;
    if (!(this.#fraction > 0 && this.#fraction < 1)) throw new RangeError('coordinator: renewFraction must be in (0, 1)');
    this.#o = o;
    this.#trustDomain = id.id.trustDomain;
    this.#expect = o.coordinatorSpiffeId ? { exact: o.coordinatorSpiffeId } : { trustDomain: id.id.trustDomain };
  }

  /** Resolves with the first leaf; retries while the coordinator is unreachable, rejects when it refuses. */
  async start(): Promise<IdentityMaterial> {
    let attempt = 0;
    for (;;) {
      const cur = this.current();
      if (cur) return cur;
      if (this.closed) throw new Error('identity source closed');
      try {
        return await this.renew();
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code !== undefined && REFUSALS.has(code)) throw err;
        const wait = retryDelay(++attempt, this.now(), undefined);
        await new Promise<void>((resolve) => { this.#startWait = { timer: setTimeout(resolve, wait), resolve }; });
      }
    }
  }

  /** Renew now (coalesced with one already in flight). The leaf in force stays on failure. */
  renew(): Promise<IdentityMaterial> {
    this.#inflight ??= this.#certify().finally(() => { this.#inflight = undefined; });
    return this.#inflight;
  }

  override async close(): Promise<void> {
    if (this.#startWait) { clearTimeout(this.#startWait.timer); this.#startWait.resolve(); }
    await super.close();
  }

  protected details(): Record<string, string> {
    return { coordinator: this.#o.target, bootstrap: this.#o.joinToken ? 'join token' : 'none', keyType: 'rsa-2048' };
  }

  async #certify(): Promise<IdentityMaterial> {
    if (this.closed) throw new Error('identity source closed');
    try {
      const { privateKey: keyPem, publicKey: pubPem } = await generateKeyPairAsync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      });
      const cur = this.current();
      const useLeaf = cur !== undefined && cur.notAfter.getTime() > this.now();
      const req: CertifyRequest = { csrPem: this.#csr(keyPem, pubPem), spiffeId: this.#o.spiffeId };
      if (!useLeaf && this.#o.joinToken) req.joinToken = this.#o.joinToken;
      const creds = coordinatorCredentials(
        { rootsPem: cur?.rootsPem ?? this.#o.rootsPem, ...(useLeaf ? { keyPem: cur.keyPem, certPem: cur.certPem } : {}) },
        this.#expect,
      );
      const res = await this.#call(creds, req);
      const m = materialFromPem({
        keyPem, certChainPem: [res.leafPem, ...res.chainPem].join(''), rootsPem: res.rootsPem.length ? res.rootsPem : (cur?.rootsPem ?? this.#o.rootsPem),
        trustDomain: this.#trustDomain, now: this.now(),
      });
      if (m.spiffeId !== this.#o.spiffeId) throw new Error(`the coordinator returned a leaf for ${m.spiffeId}, not ${this.#o.spiffeId}`);
      if (this.closed) return m;
      this.#attempt = 0;
      this.publish(m);
      const at = Math.max(renewAt(m.notBefore.getTime(), m.notAfter.getTime(), this.#fraction), this.now() + 250);
      this.scheduleAt(at, () => { this.renew().catch(() => { /* counted and logged below */ }); });
      return m;
    } catch (err) {
      this.failed(err, `certify at ${this.#o.target}`);
      // Before the first leaf, start() owns the retry loop; afterwards the timer does.
      if (this.current()) {
        const now = this.now();
        this.scheduleAt(now + retryDelay(++this.#attempt, now, this.current()?.notAfter.getTime()), () => {
          this.renew().catch(() => { /* counted and logged above */ });
        });
      }
      throw err;
    }
  }

  #csr(keyPem: string, pubPem: string): string {
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = forge.pki.publicKeyFromPem(pubPem);
    const id = parseSpiffeId(this.#o.spiffeId);
    csr.setSubject([{ name: 'commonName', value: (id.ok ? id.id.service : 'workload').slice(0, 64) }]);
    csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: this.#o.spiffeId }] }] }]);
    csr.sign(asForgeKey(nativeRsaKey(keyPem)), forge.md.sha256.create());
    return forge.pki.certificationRequestToPem(csr);
  }

  #call(creds: grpc.ChannelCredentials, req: CertifyRequest): Promise<CertifyResponse> {
    const { IdentityClient } = controlPlaneProtos();
    const client = new IdentityClient(this.#o.target, creds, coordinatorChannelOptions) as unknown as grpc.Client & {
      Certify(r: CertifyRequest, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: CertifyResponse) => void): void;
    };
    const deadline = new Date(Date.now() + (this.#o.requestTimeoutMs ?? 10_000));
    return new Promise<CertifyResponse>((resolve, reject) => {
      client.Certify(req, { deadline }, (err, res) => {
        client.close();
        if (err || !res) reject(err ?? new Error('empty Certify response'));
        else resolve(res);
      });
    });
  }
}
