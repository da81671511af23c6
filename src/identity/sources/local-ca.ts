/**
 * The `local-ca` identity source (the embedded default): the agent signs its
 * own short-lived leaf with the CA in a directory (ca.ts), and signs a new
 * one at ~70% of each leaf's lifetime.
 *
 * The CA directory is re-read on every renewal and watched, so a root
 * rotation (`rotateCa`: the bundle gains the new root, signing switches to it)
 * reaches the agent at once: its next leaf comes from the new root and carries
 * the cross-signed root as an intermediate (ca.ts), so peers that still hold
 * only the old bundle verify it, while the new bundle still accepts peers
 * whose leaves came from the old root. `pruneCa` later ends the overlap.
 */
import { join } from 'node:path';
import { CA_CERT_FILE, loadCa } from '../ca.ts';
import { watchPaths, type PathWatch } from '../file-watch.ts';
import { issueLeaf, type LeafKeyType } from '../issue.ts';
import { materialFromPem } from '../material.ts';
import { renewAt, retryDelay } from '../renewal.ts';
import { SourceBase, type SourceBaseOptions } from '../source-base.ts';
import { parseSpiffeId } from '../spiffe.ts';
import type { IdentityMaterial } from '../types.ts';

export interface LocalCaSourceOptions extends SourceBaseOptions {
  readonly caDir: string;
  /** The agent's own SPIFFE ID (Consul service form); its trust domain must be the CA's. */
  readonly spiffeId: string;
  /** Leaf lifetime in ms (default 24 h; at least 1 s). */
  readonly ttlMs?: number;
  readonly keyType?: LeafKeyType;
  /** Fraction of the lifetime after which the leaf is renewed (default 0.7). */
  readonly renewFraction?: number;
  /** Watch the CA directory for root rotations (default true). */
  readonly watch?: boolean;
}

export class LocalCaSource extends SourceBase {
  readonly kind = 'local-ca';
  readonly #o: LocalCaSourceOptions;
  readonly #trustDomain: string;
  readonly #ttlMs: number;
  readonly #fraction: number;
  #inflight: Promise<IdentityMaterial> | undefined;
  #watch: PathWatch | undefined;
  #caStamp = '';
  #attempt = 0;

  constructor(opts: LocalCaSourceOptions) {
    super(opts);
    const id = parseSpiffeId(opts.spiffeId);
    if (!id.ok) throw new RangeError(`local-ca: ${opts.spiffeId} is not a service SPIFFE ID: ${id.error}`);
    this.#ttlMs = opts.ttlMs ?? 86_400_000;
    if (!Number.isFinite(this.#ttlMs) || this.#ttlMs < 1000) throw new RangeError('local-ca: leaf ttl must be at least 1s');
    this.#fraction = opts.renewFraction ?? 0.7;
    if (!(this.#fraction > 0 && this.#fraction < 1)) throw new RangeError('local-ca: renewFraction must be in (0, 1)');
    this.#trustDomain = id.id.trustDomain;
    this.#o = opts;
  }

  async start(): Promise<IdentityMaterial> {
    const m = await this.renew();
    if (this.#o.watch !== false && this.#watch === undefined) {
      this.#watch = watchPaths([join(this.#o.caDir, CA_CERT_FILE)], () => { void this.#onCaChange(); }, { pollMs: 30_000 });
    }
    return m;
  }

  /** Sign a new leaf now. Concurrent calls share one issuance. */
  renew(): Promise<IdentityMaterial> {
    this.#inflight ??= this.#issue().finally(() => { this.#inflight = undefined; });
    return this.#inflight;
  }

  override async close(): Promise<void> {
    this.#watch?.close();
    await super.close();
  }

  protected details(): Record<string, string> {
    return { caDir: this.#o.caDir, ttl: `${this.#ttlMs / 1000}s`, keyType: this.#o.keyType ?? 'ecdsa-p256' };
  }

  async #issue(): Promise<IdentityMaterial> {
    try {
      const ca = await loadCa(this.#o.caDir, { trustDomain: this.#trustDomain });
      const leaf = issueLeaf(ca, { spiffeId: this.#o.spiffeId, ttlMs: this.#ttlMs, keyType: this.#o.keyType, now: this.now() });
      const m = materialFromPem({
        keyPem: leaf.keyPem, certChainPem: [leaf.certPem, ...ca.chainPem].join(''), rootsPem: ca.rootsPem,
        trustDomain: this.#trustDomain, now: this.now(),
      });
      if (this.closed) return m;
      this.#caStamp = `${ca.serial}|${ca.rootsPem.join('')}`;
      this.#attempt = 0;
      this.publish(m);
      const at = Math.max(renewAt(m.notBefore.getTime(), m.notAfter.getTime(), this.#fraction), this.now() + 250);
      this.scheduleAt(at, () => { this.renew().catch(() => { /* counted and logged in #issue */ }); });
      return m;
    } catch (err) {
      this.failed(err, `issuing from ${this.#o.caDir}`);
      this.#attempt++;
      const now = this.now();
      this.scheduleAt(now + retryDelay(this.#attempt, now, this.current()?.notAfter.getTime()), () => {
        this.renew().catch(() => { /* counted and logged above */ });
      });
      throw err;
    }
  }

  async #onCaChange(): Promise<void> {
    if (this.closed) return;
    try {
      const ca = await loadCa(this.#o.caDir, { trustDomain: this.#trustDomain });
      if (`${ca.serial}|${ca.rootsPem.join('')}` === this.#caStamp) return;
      this.log.info({ caDir: this.#o.caDir, root: ca.serial }, 'identity: CA directory changed; renewing the leaf');
      await this.renew();
    } catch {
      // Mid-rotation reads can be inconsistent; the debounce or the poll will look again.
    }
  }
}
