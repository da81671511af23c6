/**
 * How coordinator replicas share the mesh view. Each agent reports to one
 * replica (whichever the Kubernetes Service picked); replicas exchange their
 * agents' records through a shared store, and each merges the others' into its
 * view. There is no consensus here: every replica only ever writes its own
 * agents, and readers apply the same liveness rule to what they read.
 *
 * Without a store (`LocalOnlySharing`), a replica serves only its own agents
 * and says so in every view.
 */
import type { AgentRecord, ReplicaInfo } from './model.ts';

export interface ViewSharing {
  readonly mode: ReplicaInfo['sharing'];
  readonly note: string;
  /** Publish this replica's records (replacing what it published before). */
  publish(replica: string, records: readonly AgentRecord[]): Promise<void>;
  /** Records published by every other replica. */
  peers(replica: string): Promise<AgentRecord[]>;
  close(): Promise<void>;
}

export class LocalOnlySharing implements ViewSharing {
  readonly mode = 'local' as const;
  readonly note = 'Consul is not configured: this replica shows only the agents that report to it.';
  async publish(): Promise<void> {}
  async peers(): Promise<AgentRecord[]> { return []; }
  async close(): Promise<void> {}
}
