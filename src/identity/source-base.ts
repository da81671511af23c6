/**
 * What every identity source shares: the identity in force, the listeners,
 * the signals and the /certs description, and one renewal timer.
 *
 * A subclass fetches material in its own way and calls `publish(m)` on
 * success or `failed(err)` on failure; the last good identity is never
 * replaced by a failure. Listener errors are logged, never propagated, so one
 * bad subscriber cannot stop a rotation reaching the others.
 */
import { defaultIdentityLog, type IdentityLog } from './log.ts';
import { MAX_TIMER_MS } from './renewal.ts';
import { describeMaterial, type IdentityDescription, type IdentitySignals, type ManagedIdentitySource } from './signals.ts';
import type { IdentityMaterial } from './types.ts';

export interface SourceBaseOptions {
  readonly log?: IdentityLog | undefined;
  /** Wall clock, epoch ms (default Date.now). */
  readonly now?: (() => number) | undefined;
}

export abstract class SourceBase implements ManagedIdentitySource {
  abstract readonly kind: string;
  protected readonly log: IdentityLog;
  protected readonly now: () => number;
  #current: IdentityMaterial | undefined;
  readonly #listeners = new Set<(m: IdentityMaterial) => void>();
  #timer: NodeJS.Timeout | undefined;
  #renewAt: number | undefined;
  #lastRefreshAt: number | undefined;
  #lastError: string | undefined;
  protected closed = false;
  readonly signals: IdentitySignals;

  constructor(opts: SourceBaseOptions) {
    this.log = opts.log ?? defaultIdentityLog();
    this.now = opts.now ?? Date.now;
    const refresh = { success: 0, failure: 0 };
    this.signals = {
      refresh,
      expirationTimestampSeconds: () => {
        const m = this.#current;
        return m === undefined ? undefined : Math.floor(m.notAfter.getTime() / 1000);
      },
    };
  }

  abstract start(): Promise<IdentityMaterial>;
  abstract renew(): Promise<IdentityMaterial>;
  /** Source-specific, non-secret facts for /certs. */
  protected abstract details(): Record<string, string>;

  current(): IdentityMaterial | undefined {
    return this.#current;
  }

  onUpdate(listener: (m: IdentityMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelTimer();
    this.#listeners.clear();
  }

  describe(): IdentityDescription {
    return {
      source: this.kind,
      ready: this.#current !== undefined,
      ...describeMaterial(this.#current, this.now()),
      renewAt: this.#renewAt === undefined ? undefined : new Date(this.#renewAt).toISOString(),
      lastRefreshAt: this.#lastRefreshAt === undefined ? undefined : new Date(this.#lastRefreshAt).toISOString(),
      lastError: this.#lastError,
      refresh: { ...this.signals.refresh },
      details: this.details(),
    };
  }

  /** Make `m` the identity in force and tell every listener. */
  protected publish(m: IdentityMaterial): void {
    const first = this.#current === undefined;
    this.#current = m;
    this.#lastRefreshAt = this.now();
    this.#lastError = undefined;
    this.signals.refresh.success++;
    this.log.info({ source: this.kind, spiffeId: m.spiffeId, serial: m.serial, notAfter: m.notAfter.toISOString() },
      first ? 'identity: certificate loaded' : 'identity: certificate rotated');
    for (const l of this.#listeners) {
      try {
        l(m);
      } catch (err) {
        this.log.error({ err, source: this.kind }, 'identity: an update listener threw');
      }
    }
  }

  /** Count and log a failed refresh; the identity in force stays. */
  protected failed(err: unknown, what: string): void {
    this.signals.refresh.failure++;
    this.#lastError = `${what}: ${(err as Error)?.message ?? String(err)}`;
    this.log.warn({ source: this.kind, err: this.#lastError, keeping: this.#current?.serial },
      this.#current ? 'identity: refresh failed; keeping the last good certificate' : 'identity: refresh failed');
  }

  /** Run `fn` at epoch ms `at` (replacing any earlier plan). The timer does not keep the process alive. */
  protected scheduleAt(at: number, fn: () => void): void {
    this.cancelTimer();
    if (this.closed) return;
    this.#renewAt = at;
    const delay = Math.max(0, at - this.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (delay > MAX_TIMER_MS) this.scheduleAt(at, fn);
      else fn();
    }, Math.min(delay, MAX_TIMER_MS));
    this.#timer.unref();
  }

  protected cancelTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#renewAt = undefined;
  }
}
