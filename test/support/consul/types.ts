/**
 * Records held by the Consul-API test server, in Consul's own field names
 * (PascalCase), so rendering a response is mostly picking fields.
 */

export type CheckStatus = 'passing' | 'warning' | 'critical';
export const CHECK_STATUSES: readonly string[] = ['passing', 'warning', 'critical'];

export interface Weights { Passing: number; Warning: number }

export interface TaggedAddress { address: string; port: number }

export interface CatalogNode {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface ServiceRecord {
  /** Name of the node the instance lives on. */
  Node: string;
  Kind: string;
  ID: string;
  Service: string;
  /** null = registered without tags (agent/service/:id shows null, lists show []). */
  Tags: string[] | null;
  Address: string;
  TaggedAddresses: Record<string, TaggedAddress> | undefined;
  Meta: Record<string, string> | null;
  Port: number;
  SocketPath: string;
  Weights: Weights;
  EnableTagOverride: boolean;
  /** Only for connect-proxy and gateway kinds. */
  Proxy: Record<string, unknown> | undefined;
  /** Only set when Connect.Native is true. */
  Connect: { Native: boolean } | undefined;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface CheckRecord {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  Interval: string;
  Timeout: string;
  ExposedPort: number;
  Definition: Record<string, unknown>;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface KvEntry {
  Key: string;
  Flags: number;
  Value: Buffer | null;
  LockIndex: number;
  Session: string | undefined;
  CreateIndex: number;
  ModifyIndex: number;
}
