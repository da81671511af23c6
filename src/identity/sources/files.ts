/**
 * The `files` identity source: cert, key and trust bundle written by another
 * system (cert-manager, SPIRE's agent, Vault agent). Selected by the quick
 * flags `--cert FILE --key FILE --ca FILE`.
 *
 * The directories are watched (file-watch.ts: debounced fs.watch plus a slow
 * poll). After any change the three files are read again; if the content
 * differs and validates (material.ts) it is published, otherwise the last good
 * identity stays and a log line says why, so a writer that updates the files
 * one at a time never takes the agent down. The cert file may hold the leaf
 * followed by intermediates; the CA file may hold several roots (rotation).
 *
 * start() resolves once the files hold a usable identity; it waits for them to
 * appear or become valid for up to `startTimeoutMs`, then fails.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { watchPaths, type PathWatch } from '../file-watch.ts';
import { materialFromPem } from '../material.ts';
import { SourceBase, type SourceBaseOptions } from '../source-base.ts';
import type { IdentityMaterial } from '../types.ts';

export interface FilesSourceOptions extends SourceBaseOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** When set, the leaf must be in this trust domain. */
  readonly trustDomain?: string | undefined;
  /** Quiet period after a change before reading (default 200 ms). */
  readonly debounceMs?: number;
  /** Safety-net poll period (default 30 s; 0 disables). */
  readonly pollMs?: number;
  /** How long start() waits for usable files (default 30 s). */
  readonly startTimeoutMs?: number;
}

export class FilesSource extends SourceBase {
  readonly kind = 'files';
  readonly #o: FilesSourceOptions;
  #watch: PathWatch | undefined;
  #digest = '';
  #reading: Promise<IdentityMaterial> | undefined;
  #waiters: Array<(m: IdentityMaterial) => void> = [];
  #stopWaiting: (() => void) | undefined;

  constructor(opts: FilesSourceOptions) {
    super(opts);
    this.#o = opts;
  }

  async start(): Promise<IdentityMaterial> {
    this.#watch ??= watchPaths([this.#o.certFile, this.#o.keyFile, this.#o.caFile], () => {
      this.#reload().catch(() => { /* counted and logged in #reload */ });
    }, { debounceMs: this.#o.debounceMs ?? 200, pollMs: this.#o.pollMs ?? 30_000 });
    try {
      return await this.#reload();
    } catch (err) {
      const timeoutMs = this.#o.startTimeoutMs ?? 30_000;
      return await new Promise<IdentityMaterial>((resolve, reject) => {
        const poll = setInterval(() => { this.#reload().catch(() => {}); }, 1000);
        const stop = (e: Error) => { clearTimeout(timer); clearInterval(poll); reject(e); };
        const timer = setTimeout(() => {
          stop(new Error(`files identity: no usable certificate after ${timeoutMs} ms: ${(err as Error).message}`));
        }, timeoutMs);
        this.#stopWaiting = () => stop(new Error('files identity: closed before a usable certificate appeared'));
        this.#waiters.push((m) => { clearTimeout(timer); clearInterval(poll); this.#stopWaiting = undefined; resolve(m); });
      });
    }
  }

  /** Read the files now (even when nothing was reported changed). */
  renew(): Promise<IdentityMaterial> {
    return this.#reload(true);
  }

  override async close(): Promise<void> {
    this.#stopWaiting?.();
    this.#watch?.close();
    this.#watch = undefined;
    await super.close();
  }

  protected details(): Record<string, string> {
    return { certFile: this.#o.certFile, keyFile: this.#o.keyFile, caFile: this.#o.caFile };
  }

  #reload(force = false): Promise<IdentityMaterial> {
    this.#reading ??= this.#read(force).finally(() => { this.#reading = undefined; });
    return this.#reading;
  }

  async #read(force: boolean): Promise<IdentityMaterial> {
    let texts: string[];
    try {
      texts = await Promise.all([this.#o.certFile, this.#o.keyFile, this.#o.caFile].map((f) => readFile(f, 'utf8')));
    } catch (err) {
      this.failed(err, 'reading identity files');
      throw err;
    }
    const digest = createHash('sha256').update(texts.join('\0')).digest('hex');
    const current = this.current();
    if (!force && current !== undefined && digest === this.#digest) return current;
    let m: IdentityMaterial;
    try {
      m = materialFromPem({
        certChainPem: texts[0]!, keyPem: texts[1]!, rootsPem: [texts[2]!], trustDomain: this.#o.trustDomain, now: this.now(),
      });
    } catch (err) {
      // Remember the bad content so the poll does not log the same problem every period.
      this.#digest = digest;
      this.failed(err, `identity files ${this.#o.certFile}, ${this.#o.keyFile}, ${this.#o.caFile}`);
      throw err;
    }
    this.#digest = digest;
    if (this.closed) return m;
    if (current !== undefined && current.certPem === m.certPem && current.keyPem === m.keyPem
      && current.rootsPem.join('') === m.rootsPem.join('')) {
      return current;
    }
    this.publish(m);
    for (const w of this.#waiters.splice(0)) w(m);
    return m;
  }
}
