/**
 * Every target the harness knows, in report order. `direct` and `haproxy` are
 * the references every ratio is taken against.
 */
import { aimMesh } from './aim-mesh.ts';
import { direct } from './direct.ts';
import { haproxy } from './haproxy.ts';
import { nginx } from './nginx.ts';
import type { TargetDef } from './types.ts';

/** All targets; `agentArgs` are extra flags for both aim-mesh agents (run.ts --agent-args). */
export function allTargets(agentArgs: readonly string[] = []): TargetDef[] {
  return [direct, haproxy, nginx, aimMesh(1, agentArgs), aimMesh(2, agentArgs)];
}

export const TARGETS: readonly TargetDef[] = allTargets();

export function pickTargets(names: readonly string[], agentArgs: readonly string[] = []): TargetDef[] {
  const all = allTargets(agentArgs);
  if (!names.length) return all;
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length) throw new Error(`unknown target(s): ${unknown.join(', ')} (have: ${TARGETS.map((t) => t.name).join(', ')})`);
  return all.filter((t) => names.includes(t.name));
}
