/**
 * The static-registry resolver: reads config/registry.yaml, watches it, and
 * re-yields each watched service's set when the file changes. A bad edit is
 * rejected with a log line naming file, key and expectation, and the last
 * good version is kept (static stability applies to files too).
 *
 * Editors replace files by rename, so the directory is watched (fs.watch),
 * with a short debounce; a slow poll backs it up on filesystems where
 * fs.watch is unreliable.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../../telemetry/log.ts';
import { silentLogger } from '../../telemetry/log.ts';
import { ConfigError } from '../../config/yaml-schema.ts';
import type { EndpointSetUpdate, Resolver, WatchStatus } from '../types.ts';
import { LatestChannel } from '../watch-channel.ts';
import { endpointsOf, parseRegistry, type Registry } from './registry-file.ts';

export interface StaticResolverOptions {
  readonly file: string;
  readonly log?: Logger;
  /** Debounce for change events, ms. */
  readonly debounceMs?: number;
  /** Backup poll interval, ms (0 = off). */
  readonly pollMs?: number;
}

export class StaticResolver implements Resolver {
  readonly kind = 'static';
  readonly file: string;
  #log: Logger;
  #registry: Registry;
  #text: string;
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
    this.#text = readFileSync(this.file, 'utf8');
    this.#registry = parseRegistry(this.#text, opts.file);
    this.#lastSuccessAt = Date.now();
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
    if (pollMs > 0) { this.#poll = setInterval(() => this.#reload(), pollMs); this.#poll.unref(); }
  }

  get registry(): Registry {
    return this.#registry;
  }

  /** Called after each accepted reload (transparent mode rebuilds its address index). */
  onRegistry(fn: (r: Registry) => void): void {
    this.#listeners.push(fn);
  }

  #schedule(): void {
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => { this.#debounce = undefined; this.#reload(); }, this.#debounceMs);
    this.#debounce.unref();
  }

  #reload(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      this.#lastError = `cannot read ${this.file}: ${(err as Error).message}`;
      return; // mid-rename, or deleted: keep the last good registry
    }
    if (text === this.#text) return;
    try {
      const reg = parseRegistry(text, this.file);
      this.#text = text;
      this.#registry = reg;
      this.#lastSuccessAt = Date.now();
      this.#lastError = undefined;
      this.reloads++;
      this.#log.info({ file: this.file, services: Object.keys(reg.services).length }, 'registry reloaded');
      for (const [service, chans] of this.#watchers) {
        const u = this.#update(service);
        for (const ch of chans) ch.put(u);
      }
      for (const fn of this.#listeners) fn(reg);
    } catch (err) {
      this.#text = text; // do not re-log the same bad content on every poll
      this.rejectedReloads++;
      const detail = err instanceof ConfigError ? err.message : (err as Error).message;
      this.#lastError = detail;
      this.#log.error({ file: this.file, reason: 'registry_rejected', detail }, 'registry edit rejected; keeping the last good version');
    }
  }

  #update(service: string): EndpointSetUpdate {
    return { service, endpoints: endpointsOf(this.#registry, service), source: `static:${this.file}` };
  }

  watch(service: string, signal: AbortSignal): AsyncIterable<EndpointSetUpdate> {
    const ch = new LatestChannel<EndpointSetUpdate>();
    let set = this.#watchers.get(service);
    if (!set) { set = new Set(); this.#watchers.set(service, set); }
    set.add(ch);
    ch.put(this.#update(service));
    const stop = () => { ch.close(); this.#watchers.get(service)?.delete(ch); };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    return ch;
  }

  status(service: string): WatchStatus {
    return { service, synced: true, lastSuccessAt: this.#lastSuccessAt, lastError: this.#lastError };
  }

  async close(): Promise<void> {
    this.#fsw?.close();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#debounce) clearTimeout(this.#debounce);
    for (const set of this.#watchers.values()) for (const ch of set) ch.close();
    this.#watchers.clear();
  }
}
