/**
 * Sessions (SPEC §12): create/renew/destroy/info/list, TTL expiry (Consul
 * invalidates after 2×TTL), invalidation when a node or service check of the
 * session goes critical, and what happens to held KV locks (`release` clears
 * the lock holder, `delete` deletes the key) plus the lock delay.
 */
import { randomUUID } from 'node:crypto';
import { durationField, formatGoDuration } from './duration.ts';
import { badRequest, notFound, serverError } from './http.ts';
import { field } from './service-def.ts';
import type { ConsulStore } from './store.ts';

export interface Session {
  ID: string;
  Name: string;
  Node: string;
  LockDelay: number;
  Behavior: 'release' | 'delete';
  TTL: string;
  NodeChecks: string[];
  ServiceChecks: Array<{ ID: string; Namespace: string }> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

interface Live { s: Session; ttlMs: number; timer: NodeJS.Timeout | undefined }

export class SessionStore {
  readonly #store: ConsulStore;
  readonly #live = new Map<string, Live>();
  /** key → ms timestamp until which it cannot be locked (lock-delay). */
  readonly lockDelayUntil = new Map<string, number>();

  constructor(store: ConsulStore) {
    this.#store = store;
    store.onChange(() => this.#checkHealth());
    store.onIndexReset((to) => {
      for (const { s } of this.#live.values()) { s.CreateIndex = Math.min(s.CreateIndex, to); s.ModifyIndex = Math.min(s.ModifyIndex, to); }
    });
  }

  index(): number { return this.#store.maxIndex(['sessions']); }

  create(body: unknown, defaultNode: string): string {
    const ttlRaw = field(body, 'TTL');
    let ttlMs = 0;
    if (ttlRaw !== undefined && ttlRaw !== '') {
      const ms = durationField(ttlRaw);
      if (ms === undefined) throw badRequest(`Request decode failed: time: invalid duration "${String(ttlRaw)}"`);
      if (ms !== 0 && (ms < 10_000 || ms > 86_400_000)) throw badRequest(`Invalid Session TTL '${formatGoDuration(ms)}', must be between [10s=24h0m0s]`);
      ttlMs = ms;
    }
    const node = String(field(body, 'Node') || defaultNode);
    if (!this.#store.nodes.has(node)) throw serverError(`Missing node registration`);
    const behavior = String(field(body, 'Behavior') || 'release');
    if (behavior !== 'release' && behavior !== 'delete') throw badRequest(`Invalid Behavior setting '${behavior}'`);
    const nodeChecksRaw = field(body, 'NodeChecks') ?? field(body, 'Checks');
    const nodeChecks = Array.isArray(nodeChecksRaw) ? nodeChecksRaw.map(String) : ['serfHealth'];
    const svcRaw = field(body, 'ServiceChecks');
    const serviceChecks = Array.isArray(svcRaw) ? svcRaw.map((c) => ({ ID: String(field(c, 'ID')), Namespace: 'default' })) : null;
    for (const id of [...nodeChecks, ...(serviceChecks ?? []).map((c) => c.ID)]) {
      const c = this.#store.checks.get(node)?.get(id);
      if (!c) throw serverError(`Missing check '${id}' registration`);
      if (c.Status === 'critical') throw serverError(`Check '${id}' is in critical state`);
    }
    const lockDelayMs = durationField(field(body, 'LockDelay')) ?? 15_000;
    const id = randomUUID();
    this.#store.write(['sessions'], (idx) => {
      const s: Session = {
        ID: id, Name: String(field(body, 'Name') ?? ''), Node: node, LockDelay: lockDelayMs * 1e6, Behavior: behavior,
        TTL: ttlMs ? formatGoDuration(ttlMs) : '', NodeChecks: nodeChecks, ServiceChecks: serviceChecks,
        CreateIndex: idx, ModifyIndex: idx,
      };
      this.#live.set(id, { s, ttlMs, timer: undefined });
    });
    this.#arm(id);
    return id;
  }

  #arm(id: string): void {
    const l = this.#live.get(id);
    if (!l || !l.ttlMs) return;
    clearTimeout(l.timer);
    l.timer = setTimeout(() => this.destroy(id), l.ttlMs * 2);
    l.timer.unref();
  }

  renew(id: string): Session[] {
    const l = this.#live.get(id);
    if (!l) throw notFound(`Session id '${id}' not found`);
    this.#arm(id);
    return [l.s];
  }

  get(id: string): Session | undefined { return this.#live.get(id)?.s; }
  list(): Session[] { return [...this.#live.values()].map((l) => l.s); }

  /** Invalidate: release or delete held keys, start their lock delay. */
  destroy(id: string): void {
    const l = this.#live.get(id);
    if (!l) return;
    clearTimeout(l.timer);
    this.#store.write(['sessions', 'kvs'], (idx) => {
      this.#live.delete(id);
      for (const [k, e] of [...this.#store.kv]) {
        if (e.Session !== id) continue;
        if (l.s.LockDelay > 0) this.lockDelayUntil.set(k, Date.now() + l.s.LockDelay / 1e6);
        if (l.s.Behavior === 'delete') this.#store.kv.delete(k);
        else { e.Session = undefined; e.ModifyIndex = idx; }
      }
    });
  }

  close(): void {
    for (const l of this.#live.values()) clearTimeout(l.timer);
  }

  #checkHealth(): void {
    for (const { s } of [...this.#live.values()]) {
      const checks = this.#store.checks.get(s.Node);
      const ids = [...s.NodeChecks, ...(s.ServiceChecks ?? []).map((c) => c.ID)];
      if (!this.#store.nodes.has(s.Node) || ids.some((i) => !checks?.get(i) || checks.get(i)!.Status === 'critical')) {
        queueMicrotask(() => this.destroy(s.ID));
      }
    }
  }
}
