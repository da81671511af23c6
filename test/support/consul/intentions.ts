/**
 * Service intentions (SPEC §9) and the authorize decision (SPEC §8).
 * Precedence (OSS, default namespace): exact→exact 9, *→exact 8,
 * exact→* 6, *→* 5. Match lists are sorted by precedence, highest first.
 */
import type { ConsulStore } from './store.ts';

export interface Intention {
  Description: string;
  SourceNS: string;
  SourceName: string;
  DestinationNS: string;
  DestinationName: string;
  SourceType: string;
  Action: string;
  Permissions?: unknown[];
  Meta: Record<string, string>;
  Precedence: number;
  CreateIndex: number;
  ModifyIndex: number;
}

export function precedence(source: string, destination: string): number {
  if (destination !== '*') return source !== '*' ? 9 : 8;
  return source !== '*' ? 6 : 5;
}

export class IntentionStore {
  readonly #store: ConsulStore;
  readonly #items = new Map<string, Intention>();

  constructor(store: ConsulStore) {
    this.#store = store;
    store.onIndexReset((to) => {
      for (const i of this.#items.values()) { i.CreateIndex = Math.min(i.CreateIndex, to); i.ModifyIndex = Math.min(i.ModifyIndex, to); }
    });
  }

  index(): number { return this.#store.maxIndex(['intentions']); }

  list(): Intention[] {
    return [...this.#items.values()].sort((a, b) => b.Precedence - a.Precedence || a.SourceName.localeCompare(b.SourceName) || a.DestinationName.localeCompare(b.DestinationName));
  }

  get(source: string, destination: string): Intention | undefined {
    return this.#items.get(`${source}\u0000${destination}`);
  }

  upsert(source: string, destination: string, body: { Action?: string; Description?: string; Permissions?: unknown[]; Meta?: Record<string, string>; SourceType?: string }): void {
    const key = `${source}\u0000${destination}`;
    const old = this.#items.get(key);
    this.#store.write(['intentions'], (idx) => {
      const it: Intention = {
        Description: body.Description ?? '', SourceNS: 'default', SourceName: source, DestinationNS: 'default',
        DestinationName: destination, SourceType: body.SourceType || 'consul',
        Action: body.Permissions && body.Permissions.length > 0 ? '' : (body.Action ?? ''),
        Meta: body.Meta ?? {}, Precedence: precedence(source, destination),
        CreateIndex: old?.CreateIndex ?? idx, ModifyIndex: idx,
      };
      if (body.Permissions && body.Permissions.length > 0) it.Permissions = body.Permissions;
      this.#items.set(key, it);
    });
  }

  delete(source: string, destination: string): void {
    this.#store.write(['intentions'], () => { this.#items.delete(`${source}\u0000${destination}`); });
  }

  /** Intentions matching `name` by source or destination (including wildcards), best first. */
  match(by: 'source' | 'destination', name: string): Intention[] {
    return this.list().filter((i) => {
      const v = by === 'source' ? i.SourceName : i.DestinationName;
      return v === name || v === '*';
    });
  }

  /** The deciding intention for source → destination, if any. */
  decide(source: string, destination: string): Intention | undefined {
    return this.match('destination', destination).find((i) => i.SourceName === source || i.SourceName === '*');
  }
}

export function describe(i: Intention): string {
  const action = i.Action ? i.Action.toUpperCase() : 'L7';
  return `default/${i.SourceName} => default/${i.DestinationName} (Precedence: ${i.Precedence}, Action: ${action})`;
}
