/**
 * direct: the client talks to the backend itself. The physical limit of this
 * machine, and the reference that "added latency" is measured against. Its
 * grpc build calls the gRPC peer the same way.
 */
import { HOST } from '../lib/ports.ts';
import type { TargetDef } from './types.ts';

export const direct: TargetDef = {
  name: 'direct',
  description: 'client → nginx backend (no proxy)',
  async start(ctx) {
    return {
      origin: `http://${HOST}:${ctx.backend.port}`,
      roles: () => ({ backend: ctx.backend.pids() }),
      tlsHopNote: 'no TLS hop',
      async stop() {},
    };
  },
};

export const directGrpc: TargetDef = {
  name: 'direct',
  kind: 'grpc',
  description: 'gRPC: client → gRPC peer (no proxy)',
  start: direct.start,
};
