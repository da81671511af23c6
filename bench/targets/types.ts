/**
 * The target contract: something the client sends HTTP/1.1 (or, for a grpc
 * target, gRPC over h2c) to at `origin`,
 * whose processes are grouped by role for CPU and RSS, and (for pairs) a TLS
 * hop whose new-connection handshake rate can be measured.
 */
import type { CertSet } from '../lib/certs.ts';
import type { TlsHop } from '../lib/handshake.ts';
import type { ToolPaths } from '../lib/install.ts';
import type { ProcessGroup } from '../lib/procs.ts';

/** outbound = plaintext in, mTLS out; inbound = mTLS in, plaintext to the backend. */
export type Role = 'outbound' | 'inbound' | 'backend';

export interface RunningTarget {
  /** e.g. http://127.0.0.1:41234 */
  readonly origin: string;
  /** PIDs per role right now (nginx: master + worker). */
  roles(): Partial<Record<Role, number[]>>;
  /** The pair's mTLS-in side, for the handshake measure; absent for direct, or when no client identity is available. */
  readonly tlsHop?: TlsHop;
  /** Why tlsHop is absent, when it is. */
  readonly tlsHopNote?: string;
  stop(): Promise<void>;
}

export interface Backend {
  readonly port: number;
  pids(): number[];
}

export interface TargetContext {
  readonly procs: ProcessGroup;
  /** A fresh directory for this target's configs and logs. */
  readonly dir: string;
  readonly certs: CertSet;
  readonly tools: ToolPaths;
  readonly backend: Backend;
  /** Repository root (the aim-mesh target runs its CLI from here). */
  readonly repo: string;
}

export interface TargetDef {
  /** Column name in the report; the gRPC builds of a pair share the HTTP/1 build's name, so ratios line up. */
  readonly name: string;
  readonly description: string;
  /** What the target proxies (default http1); it runs the scenarios of that kind. */
  readonly kind?: 'http1' | 'grpc';
  /** Run only in these scenarios (the per-layer variants); default: every scenario of its kind. */
  readonly scenarios?: readonly string[];
  start(ctx: TargetContext): Promise<RunningTarget>;
}
