/**
 * The coordinator's live state: the local agent registry plus the records
 * other replicas share, the cached mesh view built from both, and the publish
 * loop that pushes a fresh view to subscribers (dashboard WebSockets) at most
 * once per `minPublishIntervalMs` while something changes.
 *
 * The view is rebuilt lazily: many reports arriving together cost one rebuild.
 * Record times are wall-clock ms from the injected clock (certificate expiry
 * is wall time too); the publish and sweep timers are real timers.
 */
import type { Clock } from '../core/clock.ts';
import type { AgentRegistry } from './agent-registry.ts';
import { type AggregateOptions, buildView } from './aggregate.ts';
import { AlertTracker } from './alerts.ts';
import type { AgentRecord, MeshView, ReplicaInfo } from './model.ts';

export interface MeshStateOptions {
  readonly registry: AgentRegistry;
  readonly aggregate: Omit<AggregateOptions, 'replica'>;
  readonly replica: () => ReplicaInfo;
  /** Wall clock. */
  readonly clock: Clock;
  readonly minPublishIntervalMs: number;
  readonly sweepIntervalMs: number;
}

export type ViewListener = (view: MeshView) => void;

export class MeshState {
  readonly #o: MeshStateOptions;
  readonly #tracker = new AlertTracker();
  readonly #listeners = new Set<ViewListener>();
  #remote: readonly AgentRecord[] = [];
  #view: MeshView | undefined;
  #dirty = true;
  #lastPublish = -Infinity;
  #publishTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Builds so far (for the bench and tests). */
  builds = 0;

  constructor(o: MeshStateOptions) {
    this.#o = o;
  }

  start(): void {
    this.#sweepTimer = setInterval(() => this.sweep(), this.#o.sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#publishTimer);
    this.#publishTimer = undefined;
    this.#listeners.clear();
  }

  /** Records from other replicas (replaces the previous set). */
  setRemote(records: readonly AgentRecord[]): void {
    this.#remote = records;
    this.markDirty();
  }

  /** Local records to share with other replicas. */
  localRecords(): AgentRecord[] { return this.#o.registry.all(); }

  /** Apply the liveness rule now; marks the view dirty when an agent went stale or was removed. */
  sweep(): void {
    const r = this.#o.registry.sweep(this.#o.clock.now());
    // Remote records and ages shown in the view move with time too, but only
    // status changes are worth a push.
    if (r.removed.length > 0 || r.becameStale.length > 0 || this.#remote.length > 0) this.markDirty();
    else this.#dirty = true;
  }

  /** Something changed: rebuild on next read, and publish soon. */
  markDirty(): void {
    this.#dirty = true;
    if (this.#publishTimer || this.#listeners.size === 0) return;
    const wait = Math.max(0, this.#lastPublish + this.#o.minPublishIntervalMs - this.#o.clock.now());
    this.#publishTimer = setTimeout(() => {
      this.#publishTimer = undefined;
      this.#lastPublish = this.#o.clock.now();
      const v = this.view();
      for (const l of this.#listeners) l(v);
    }, wait);
  }

  /** The current view, rebuilt if anything changed since the last build. */
  view(): MeshView {
    if (this.#dirty || !this.#view) {
      const now = this.#o.clock.now();
      const mine = this.#o.registry.all();
      const local = new Set(mine.map((r) => r.agentId));
      // An agent that moved to this replica is counted once, with its local record.
      const all = this.#remote.length ? [...mine, ...this.#remote.filter((r) => !local.has(r.agentId))] : mine;
      this.#view = buildView(all, now, { ...this.#o.aggregate, replica: this.#o.replica() }, this.#tracker);
      this.#dirty = false;
      this.builds++;
    }
    return this.#view;
  }

  /** Listen for published views. Returns the unsubscribe function. */
  subscribe(l: ViewListener): () => void {
    this.#listeners.add(l);
    return () => { this.#listeners.delete(l); };
  }
}
