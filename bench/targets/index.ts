/**
 * Every target the harness knows, in report order. `direct` and `haproxy` are
 * the references every ratio is taken against. A name may have an HTTP/1
 * build and a grpc build (direct, haproxy, nginx, aim-mesh): the scenario's
 * kind picks which one runs. The aim-mesh-* layer variants run only in the
 * `layers` scenario.
 */
import { aimMesh } from './aim-mesh.ts';
import { layerTargets } from './aim-mesh-layers.ts';
import { direct, directGrpc } from './direct.ts';
import { haproxy, haproxyGrpc } from './haproxy.ts';
import { nginx, nginxGrpc } from './nginx.ts';
import type { TargetDef } from './types.ts';

const AIM_MESH_GRPC = {
  name: 'aim-mesh', kind: 'grpc', description: 'gRPC: client → aim-mesh outbound agent → (h2 + mTLS) → aim-mesh inbound agent → gRPC peer; both ports protocol grpc',
} as const;

/** All targets; `agentArgs` are extra flags for every aim-mesh agent (run.ts --agent-args). */
export function allTargets(agentArgs: readonly string[] = []): TargetDef[] {
  return [
    direct, haproxy, nginx, aimMesh(1, agentArgs), aimMesh(2, agentArgs), ...layerTargets(agentArgs),
    directGrpc, haproxyGrpc, nginxGrpc, aimMesh(1, agentArgs, AIM_MESH_GRPC),
  ];
}

export const TARGETS: readonly TargetDef[] = allTargets();

/** Target names, each once, in report order. */
export const TARGET_NAMES: readonly string[] = [...new Set(TARGETS.map((t) => t.name))];

export function pickTargets(names: readonly string[], agentArgs: readonly string[] = []): TargetDef[] {
  const all = allTargets(agentArgs);
  if (!names.length) return all;
  const unknown = names.filter((n) => !TARGET_NAMES.includes(n));
  if (unknown.length) throw new Error(`unknown target(s): ${unknown.join(', ')} (have: ${TARGET_NAMES.join(', ')})`);
  return all.filter((t) => names.includes(t.name));
}
