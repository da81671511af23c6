/**
 * The static-registry resolver: reads config/registry.yaml, watches it, and
 * re-yields each watched service's set when the file changes. A bad edit is
 * rejected with a log line naming file, key and expectation, and the last
 * good version is kept (static stability applies to files too).
 *
 * Memory does not grow with the mesh: after a (re)load only the endpoint sets
 * of watched services are kept, plus a SHA-256 of the accepted file (to skip
 * unchanged reloads), not the file's text or its parse. The whole parse lives
 * until the end of the tick that made it, so the watches an agent starts right
 * after construction are served from it; a service first watched later is read
 * from the file on demand (the file still holds the last good version unless it
 * changed since: then the change is loaded first, as a reload). If the file
 * then holds a rejected edit, that service's set is unknown until the next
 * accepted edit (status(): not synced, with the reason).
 * Exception: whoever needs the whole registry (transparent mode's address index,
 * which is O(mesh) by nature) gets it kept: `keepRegistry`, onRegistry() or
 * reading `.registry` keep the whole parse from then on.
 *
 * Editors replace files by rename, so the directory is watched (fs.watch),
 * with a short debounce; a slow poll backs it up on filesystems where
 * fs.watch is unreliable. The poll stats the file and reads it only when its
 * inode, size or times changed (reading a 2 MB registry every 2 s made ~1 MB/s
 * of garbage).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../../telemetry/log.ts';
import { silentLogger } from '../../telemetry/log.ts';
import { ConfigError } from '../../config/yaml-schema.ts';
import type { EndpointSetUpdate, EndpointSpec, Resolver, WatchStatus } from '../types.ts';
import { LatestChannel } from '../watch-channel.ts';
import { endpointsOf, parseRegistry, type Registry } from './registry-file.ts';

export interface StaticResolverOptions {
  readonly file: string;
  readonly log?: Logger;
  /** Debounce for change events, ms. */
  readonly debounceMs?: number;
  /** Backup poll interval, ms (0 = off). */
  readonly pollMs?: number;
  /** Keep the whole parsed registry (transparent mode's address index needs every service). Default false. */
  readonly keepRegistry?: boolean;
}

const digest = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

export class StaticResolver implements Resolver {
  readonly kind = 'static';
  readonly file: string;
  #log: Logger;
  /** SHA-256 of the last accepted content, and of the last content read (accepted or rejected). */
  #goodHash: string;
  #seenHash: string;
  /** The endpoint sets of watched services, and nothing else. */
  #sets = new Map<string, readonly EndpointSpec[]>();
  /** Watched services whose set is not known (first watched while the file held a rejected edit). */
  #unknown = new Set<string>();
  /** The whole parse: kept when someone needs it, else only until the end of the tick that made it. */
  #whole: Registry | undefined;
  #keepWhole: boolean;
  #drop: NodeJS.Immediate | undefined;
  #serviceCount = 0;
  /** inode:size:mtime:ctime at the last poll that read the file. */
  #statKey: string | undefined;
  #watchers = new Map<string, Set<LatestChannel<EndpointSetUpdate>>>();
  #fsw: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #debounceMs: number;
  #lastSuccessAt: number;
  #lastError: string | undefined;
  #listeners: Array<(r: Registry) => void> = [];
  reloads = 0;
  rejectedReloads = 0;

  /** Loads the file once, synchronously: a bad file at startup is a config error (throws ConfigError). */
  constructor(opts: StaticResolverOptions) {
    this.file = resolve(opts.file);
    this.#log = opts.log ?? silentLogger;
    this.#debounceMs = opts.debounceMs ?? 50;
    this.#keepWhole = opts.keepRegistry ?? false;
    this.#statKey = this.#stat();
    const buf = readFileSync(this.file);
    const reg = parseRegistry(buf.toString('utf8'), opts.file);
    this.#goodHash = this.#seenHash = digest(buf);
    this.#lastSuccessAt = Date.now();
    this.#serviceCount = Object.keys(reg.services).length;
    this.#hold(reg);
    try {
      const name = basename(this.file);
      this.#fsw = watch(dirname(this.file), { persistent: false }, (_ev, f) => {
        if (f === null || f === name) this.#schedule();
      });
      this.#fsw.on('error', (err) => this.#log.warn({ err: err.message, file: this.file }, 'registry watch failed; polling only'));
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, file: this.file }, 'cannot watch registry directory; polling only');
    }
    const pollMs = opts.pollMs ?? 2000;
    if (pollMs > 0) { this.#poll = setInterval(() => this.#pollTick(), pollMs); this.#poll.unref(); }
  }

  /**
   * The whole last good registry. Reading it keeps the whole parse from then on (O(mesh));
   * if it was not kept, it is re-read from the file, which must still hold the last good
   * version or a good newer one (else this throws: construct with keepRegistry to be safe).
   */
  get registry(): Registry {
    this.#keepWhole = true;
    this.#cancelDrop();
    if (this.#whole === undefined) this.#rehydrate();
    if (this.#whole === undefined) throw new Error(`${this.file}: the whole registry was not kept and the file now holds a rejected edit (${this.#lastError ?? 'unreadable'})`);
    return this.#whole;
  }

  /** Called after each accepted reload (transparent mode rebuilds its address index). Keeps the whole parse from then on. */
  onRegistry(fn: (r: Registry) => void): void {
    this.#listeners.push(fn);
    this.#keepWhole = true;
    this.#cancelDrop();
  }

  /** What is kept in memory (for tests and /explain): the services whose sets are held, and whether the whole registry is. */
  retained(): { services: string[]; wholeRegistry: boolean; registryServices: number } {
    return { services: [...this.#sets.keys()], wholeRegistry: this.#whole !== undefined, registryServices: this.#serviceCount };
  }

  #hold(reg: Registry): void {
    this.#whole = reg;
    if (this.#keepWhole || this.#drop !== undefined) return;
    this.#drop = setImmediate(() => { this.#drop = undefined; if (!this.#keepWhole) this.#whole = undefined; });
    this.#drop.unref();
  }

  #cancelDrop(): void {
    if (this.#drop !== undefined) { clearImmediate(this.#drop); this.#drop = undefined; }
  }

  #schedule(): void {
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => { this.#debounce = undefined; this.#reload(); }, this.#debounceMs);
    this.#debounce.unref();
  }

  #stat(): string | undefined {
    try {
      const st = statSync(this.file, { bigint: true });
      return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      return undefined;
    }
  }

  /** The backup poll: read the file only if stat says it changed (the stat is taken first, so a read is never older than it). */
  #pollTick(): void {
    const key = this.#stat();
    if (key !== undefined && key === this.#statKey) return;
    this.#statKey = key;
    this.#reload();
  }

  #read(): Buffer | undefined {
    try {
      return readFileSync(this.file);
    } catch (err) {
      this.#lastError = `cannot read ${this.file}: ${(err as Error).message}`;
      return undefined; // mid-rename, or deleted: keep the last good registry
    }
  }

  #reload(buf = this.#read(), hash = buf === undefined ? undefined : digest(buf)): void {
    if (buf === undefined || hash === undefined || hash === this.#seenHash) return;
    this.#seenHash = hash; // do not re-log the same bad content on every poll
    let reg: Registry;
    try {
      reg = parseRegistry(buf.toString('utf8'), this.file);
    } catch (err) {
      this.rejectedReloads++;
      const detail = err instanceof ConfigError ? err.message : (err as Error).message;
      this.#lastError = detail;
      this.#log.error({ file: this.file, reason: 'registry_rejected', detail }, 'registry edit rejected; keeping the last good version');
      return;
    }
    this.#goodHash = hash;
    this.#lastSuccessAt = Date.now();
    this.#lastError = undefined;
    this.#serviceCount = Object.keys(reg.services).length;
    this.reloads++;
    this.#log.info({ file: this.file, services: this.#serviceCount }, 'registry reloaded');
    this.#unknown.clear();
    for (const [service, chans] of this.#watchers) {
      const endpoints = endpointsOf(reg, service);
      this.#sets.set(service, endpoints);
      const u = this.#update(service, endpoints);
      for (const ch of chans) ch.put(u);
    }
    this.#hold(reg);
    for (const fn of this.#listeners) fn(reg);
  }

  /** Bring back the whole parse from the file: the last good version if unchanged, else load the change as a reload. */
  #rehydrate(): void {
    const buf = this.#read();
    if (buf === undefined) return;
    const hash = digest(buf);
    if (hash !== this.#goodHash) { this.#reload(buf, hash); return; }
    try {
      this.#hold(parseRegistry(buf.toString('utf8'), this.file));
    } catch { /* accepted before with the same bytes: cannot happen */ }
  }

  #update(service: string, endpoints: readonly EndpointSpec[]): EndpointSetUpdate {
    return { service, endpoints, source: `static:${this.file}` };
  }

  watch(service: string, signal: AbortSignal): AsyncIterable<EndpointSetUpdate> {
    const ch = new LatestChannel<EndpointSetUpdate>();
    let endpoints = this.#sets.get(service);
    if (endpoints === undefined) {
      if (this.#whole === undefined) this.#rehydrate();
      // Undefined here: the file holds a rejected edit (or cannot be read); the next accepted reload yields the set.
      if (this.#whole !== undefined) endpoints = endpointsOf(this.#whole, service);
    }
    let set = this.#watchers.get(service);
    if (!set) { set = new Set(); this.#watchers.set(service, set); }
    set.add(ch);
    if (endpoints === undefined) this.#unknown.add(service);
    else { this.#sets.set(service, endpoints); ch.put(this.#update(service, endpoints)); }
    const stop = () => {
      ch.close();
      const chans = this.#watchers.get(service);
      chans?.delete(ch);
      if (chans?.size === 0) { this.#watchers.delete(service); this.#sets.delete(service); this.#unknown.delete(service); }
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    return ch;
  }

  status(service: string): WatchStatus {
    if (this.#unknown.has(service)) {
      return { service, synced: false, lastSuccessAt: this.#lastSuccessAt, lastError: `${service} was first watched while ${this.file} held a rejected edit; its endpoints come with the next accepted edit (${this.#lastError ?? 'unreadable'})` };
    }
    return { service, synced: true, lastSuccessAt: this.#lastSuccessAt, lastError: this.#lastError };
  }

  async close(): Promise<void> {
    this.#fsw?.close();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#cancelDrop();
    for (const set of this.#watchers.values()) for (const ch of set) ch.close();
    this.#watchers.clear();
    this.#sets.clear();
    this.#unknown.clear();
    this.#whole = undefined;
  }
}
