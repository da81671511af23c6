/**
 * One Consul client agent's local state: the services and checks registered
 * through its HTTP API, the check runners (TTL timers, HTTP/TCP probes,
 * alias checks), the critical-service reaper and anti-entropy to the catalog.
 *
 * Consul behaviours kept here (agent/agent.go, agent/local/state.go, agent/checks):
 * - a new check starts `critical` unless `Status` is given; re-registering an
 *   existing check ID without `Status` keeps its current status;
 * - TTL expiry → critical with `TTL expired (last output before timeout
 *   follows): <last output>`; outputs are cut to OutputMaxSize;
 * - status changes sync to the catalog at once; output-only changes are
 *   deferred by `check_update_interval` (5m by default);
 * - `DeregisterCriticalServiceAfter` is raised to a minimum (1m) and enforced
 *   by a reaper that runs every 30s (both settable for tests);
 * - interval checks start after a random stagger within their interval;
 * - anti-entropy makes the catalog's view of this node equal the local state:
 *   services/checks the agent does not know are removed from the catalog.
 */
import { randomUUID } from 'node:crypto';
import { syncToCatalog, checkRecord } from './anti-entropy.ts';
import { aliasVerdict, httpProbe, tcpProbe } from './check-probes.ts';
import { HttpError, notFound, serverError } from './http.ts';
import type { CheckDef, ServiceDef } from './service-def.ts';
import type { ConsulStore } from './store.ts';
import type { CheckRecord, CheckStatus } from './types.ts';

export { serfHealth } from './anti-entropy.ts';

export interface AgentSettings {
  nodeName: string;
  nodeId: string;
  address: string;
  nodeMeta: Record<string, string>;
  checkUpdateIntervalMs: number;
  reapIntervalMs: number;
  deregisterMinMs: number;
  /** Start interval checks after a random stagger within their interval, as Consul does (default true). */
  staggerChecks: boolean;
}

export interface LocalCheck {
  def: CheckDef;
  status: CheckStatus;
  output: string;
  /** What the catalog has (output-only changes are deferred). */
  syncedOutput: string;
  criticalSince: number | undefined;
  timers: NodeJS.Timeout[];
  outputSync: NodeJS.Timeout | undefined;
}

export class AgentState {
  readonly services = new Map<string, ServiceDef>();
  readonly checks = new Map<string, LocalCheck>();
  readonly #store: ConsulStore;
  readonly settings: AgentSettings;
  #reaper: NodeJS.Timeout | undefined;
  #running = false;

  constructor(store: ConsulStore, settings: AgentSettings) {
    this.#store = store;
    this.settings = settings;
  }

  get running(): boolean { return this.#running; }

  start(): void {
    this.#running = true;
    this.#reaper = setInterval(() => this.reap(), this.settings.reapIntervalMs);
    this.#reaper.unref();
    for (const c of this.checks.values()) this.#startRunner(c);
    this.sync();
  }

  /** Stop timers (agent process gone). The catalog is left as it is. */
  stop(): void {
    this.#running = false;
    clearInterval(this.#reaper);
    for (const c of this.checks.values()) this.#stopRunner(c);
  }

  // === services ===

  addService(defs: ServiceDef[], replaceExistingChecks: boolean): void {
    for (const def of defs) {
      this.services.set(def.ID, def);
      if (replaceExistingChecks) {
        const keep = new Set(def.checks.map((c) => c.CheckID));
        for (const [id, c] of this.checks) if (c.def.ServiceID === def.ID && !keep.has(id)) this.#dropCheck(id);
      }
      for (const c of def.checks) this.#putCheck(c);
    }
    this.#recomputeAliases();
    this.sync();
  }

  /** Remove a service, its checks and the sidecar it created. */
  removeService(id: string): boolean {
    if (!this.services.has(id)) return false;
    this.services.delete(id);
    for (const [cid, c] of this.checks) if (c.def.ServiceID === id) this.#dropCheck(cid);
    for (const [sid, s] of this.services) if (s.sidecarOf === id) this.removeService(sid);
    this.#recomputeAliases();
    this.sync();
    return true;
  }

  // === checks ===

  addCheck(def: CheckDef): void {
    if (def.ServiceID !== '' && !this.services.has(def.ServiceID)) throw notFound(`ServiceID "${def.ServiceID}" does not exist`);
    this.#putCheck(def);
    this.#recomputeAliases();
    this.sync();
  }

  removeCheck(id: string): void {
    if (!this.checks.has(id)) throw unknownCheck(id);
    this.#dropCheck(id);
    this.#recomputeAliases();
    this.sync();
  }

  /** PUT /v1/agent/check/{pass,warn,fail,update}/:id */
  updateTtl(id: string, status: CheckStatus, output: string): void {
    const c = this.checks.get(id);
    if (!c) throw unknownCheck(id);
    if (c.def.type !== 'ttl') throw serverError(`CheckID "${id}" does not have associated TTL`);
    let out = output;
    if (Buffer.byteLength(out) > c.def.outputMaxSize) {
      const total = Buffer.byteLength(out);
      out = `${Buffer.from(out).subarray(0, c.def.outputMaxSize).toString()} ... (captured ${c.def.outputMaxSize} of ${total} bytes)`;
    }
    this.#armTtl(c);
    this.setStatus(id, status, out);
  }

  /** Set a check's status/output (runners, TTL, maintenance, tests). */
  setStatus(id: string, status: CheckStatus, output: string): void {
    const c = this.checks.get(id);
    if (!c) return;
    const statusChanged = c.status !== status;
    const outputChanged = c.output !== output;
    if (!statusChanged && !outputChanged) return;
    c.status = status;
    c.output = output;
    if (statusChanged) {
      c.criticalSince = status === 'critical' ? Date.now() : undefined;
      c.syncedOutput = output;
      clearTimeout(c.outputSync);
      c.outputSync = undefined;
      this.#recomputeAliases();
      this.sync();
    } else if (this.settings.checkUpdateIntervalMs <= 0) {
      c.syncedOutput = output;
      this.sync();
    } else if (!c.outputSync) {
      c.outputSync = setTimeout(() => {
        c.outputSync = undefined;
        c.syncedOutput = c.output;
        this.sync();
      }, this.settings.checkUpdateIntervalMs);
      c.outputSync.unref();
    }
  }

  /** Force a TTL check to expire now (tests). */
  expireTtl(id: string): void {
    const c = this.checks.get(id);
    if (!c) throw unknownCheck(id);
    this.#expire(c);
  }

  /** Run the critical-service reaper once. */
  reap(): void {
    const now = Date.now();
    for (const c of [...this.checks.values()]) {
      if (c.def.deregisterAfterMs === undefined || c.status !== 'critical' || c.criticalSince === undefined) continue;
      const timeout = Math.max(c.def.deregisterAfterMs, this.settings.deregisterMinMs);
      if (now - c.criticalSince > timeout && c.def.ServiceID !== '') this.removeService(c.def.ServiceID);
    }
  }

  #putCheck(def: CheckDef): void {
    const old = this.checks.get(def.CheckID);
    if (old) this.#stopRunner(old);
    // Keep the status of a re-registered check unless the definition sets one.
    const explicit = def.statusGiven;
    const status = old && !explicit ? old.status : def.Status;
    const c: LocalCheck = {
      def, status, output: old && !explicit ? old.output : '', syncedOutput: old && !explicit ? old.syncedOutput : '',
      criticalSince: status === 'critical' ? (old?.criticalSince ?? Date.now()) : undefined, timers: [], outputSync: undefined,
    };
    this.checks.set(def.CheckID, c);
    if (this.#running) this.#startRunner(c);
  }

  #dropCheck(id: string): void {
    const c = this.checks.get(id);
    if (!c) return;
    this.#stopRunner(c);
    this.checks.delete(id);
  }

  #startRunner(c: LocalCheck): void {
    const d = c.def;
    if (d.type === 'ttl') { this.#armTtl(c); return; }
    if ((d.type === 'http' || d.type === 'tcp') && d.intervalMs) {
      const run = async (): Promise<void> => {
        const r = d.type === 'http' ? await httpProbe(d.http!, d.timeoutMs) : await tcpProbe(d.tcp!, d.timeoutMs);
        if (this.checks.get(d.CheckID) === c && this.#running) this.setStatus(d.CheckID, r.status, r.output);
      };
      const first = setTimeout(() => {
        void run();
        const every = setInterval(() => void run(), d.intervalMs);
        every.unref();
        c.timers.push(every);
      }, this.settings.staggerChecks ? Math.random() * d.intervalMs : 0);
      first.unref();
      c.timers.push(first);
    }
    // grpc, h2ping, udp and script checks are accepted but never run: they keep their initial status.
  }

  #stopRunner(c: LocalCheck): void {
    for (const t of c.timers) { clearTimeout(t); clearInterval(t); }
    c.timers = [];
    clearTimeout(c.outputSync);
    c.outputSync = undefined;
  }

  #armTtl(c: LocalCheck): void {
    for (const t of c.timers) clearTimeout(t);
    c.timers = [];
    if (!this.#running || c.def.ttlMs === undefined) return;
    const t = setTimeout(() => this.#expire(c), c.def.ttlMs);
    t.unref();
    c.timers.push(t);
  }

  #expire(c: LocalCheck): void {
    const last = c.output;
    const out = last === '' ? 'TTL expired' : `TTL expired (last output before timeout follows): ${last.replace(/^TTL expired \(last output before timeout follows\): /, '')}`;
    this.setStatus(c.def.CheckID, 'critical', out);
  }

  #recomputeAliases(): void {
    for (const c of this.checks.values()) {
      if (c.def.type !== 'alias') continue;
      const others = [...this.checks.values()].filter((o) => o !== c).map((o) => ({ serviceId: o.def.ServiceID, name: o.def.Name, status: o.status, output: o.output }));
      const v = aliasVerdict(c.def.aliasService ?? '', others);
      if (c.status !== v.status || c.output !== v.output) {
        c.status = v.status;
        c.output = v.output;
        c.syncedOutput = v.output;
        c.criticalSince = v.status === 'critical' ? (c.criticalSince ?? Date.now()) : undefined;
      }
    }
  }

  // === anti-entropy ===

  /** Make the catalog's view of this node equal the local state (plus serfHealth). */
  sync(): void {
    if (this.#running) syncToCatalog(this.#store, this.settings, this.services, this.checks);
  }

  /** A check as the catalog (synced) or the agent (local) shows it. */
  checkRecord(c: LocalCheck, synced: boolean): Omit<CheckRecord, 'CreateIndex' | 'ModifyIndex'> {
    return checkRecord(this.settings.nodeName, this.services, c, synced);
  }
}

export function unknownCheck(id: string): HttpError {
  return notFound(`Unknown check ID "${id}". Ensure that the check ID is passed, not the check name.`);
}

export const newNodeId = (): string => randomUUID();
