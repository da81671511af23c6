/**
 * The agents reporting to this replica, keyed by agent id. Holds the merged
 * AgentRecords and applies the liveness rule on `sweep`, which removes agents
 * gone too long and tells the caller whether anything visible changed (an
 * agent went stale or disappeared), so the dashboard is pushed only then.
 */
import type { AgentRecord } from './model.ts';
import { type LivenessRule, livenessOf } from './liveness.ts';

export interface SweepResult {
  readonly removed: readonly string[];
  readonly becameStale: readonly string[];
}

export class AgentRegistry {
  readonly #rule: LivenessRule;
  readonly #records = new Map<string, AgentRecord>();
  readonly #stale = new Set<string>();

  constructor(rule: LivenessRule) {
    this.#rule = rule;
  }

  upsert(rec: AgentRecord): void {
    this.#records.set(rec.agentId, rec);
    this.#stale.delete(rec.agentId);
  }

  get(agentId: string): AgentRecord | undefined { return this.#records.get(agentId); }

  all(): AgentRecord[] { return [...this.#records.values()]; }

  get size(): number { return this.#records.size; }

  sweep(nowMs: number): SweepResult {
    const removed: string[] = [];
    const becameStale: string[] = [];
    for (const [id, rec] of this.#records) {
      const l = livenessOf(rec, nowMs, this.#rule);
      if (l === 'gone') {
        this.#records.delete(id);
        this.#stale.delete(id);
        removed.push(id);
      } else if (l === 'stale' && !this.#stale.has(id)) {
        this.#stale.add(id);
        becameStale.push(id);
      }
    }
    return { removed, becameStale };
  }
}
