/**
 * The per-layer variants of the aim-mesh pair, for the `layers` scenario:
 * the shipped defaults, and each layer the issue names toggled once. Each
 * variant is a fresh pair built exactly like
 * `aim-mesh` (same flags, one process per agent); only its config differs:
 *
 *   aim-mesh-defaults    as shipped: metrics on, retries on (3 attempts, budget), access log off
 *   aim-mesh-no-metrics  metrics.enabled: false on both agents
 *   aim-mesh-no-retries  the upstream with retries.attempts: 1 and retries.budget.enabled: false
 *   aim-mesh-access-log  --access-log on both agents (every request, one JSON line to the agent's log file)
 *
 * (A bare variant with all three off was tried and left out to keep the full
 * run under ten minutes; each row is one toggle against the same defaults.)
 * A layer's cost is the difference between the variant with it and the one
 * without, in the same run (lib/layers.ts): added CPU µs per request in each
 * agent at max throughput, and the throughput ratio.
 */
import { aimMesh, type AimMeshVariant } from './aim-mesh.ts';
import type { TargetDef } from './types.ts';
import type { LayerToggle } from '../lib/layers.ts';

export const LAYERS_SCENARIO = 'layers';

const NO_METRICS = { metrics: { enabled: false } };
const noRetries = (u: { name: string; listen: string }): object => ({ upstreams: [{ ...u, retries: { attempts: 1, budget: { enabled: false } } }] });

function variant(agentArgs: readonly string[], name: string, what: string, v: Partial<AimMeshVariant> = {}): TargetDef {
  return aimMesh(1, agentArgs, {
    name, description: `the aim-mesh pair, ${what}`, scenarios: [LAYERS_SCENARIO], ...v,
  });
}

/** The variants; `agentArgs` (run.ts --agent-args) go to every agent, as for `aim-mesh`. */
export function layerTargets(agentArgs: readonly string[] = []): TargetDef[] {
  const v = (...a: [string, string, Partial<AimMeshVariant>?]): TargetDef => variant(agentArgs, ...a);
  return [
    v('aim-mesh-defaults', 'defaults as shipped (metrics on, retries on, access log off)'),
    v('aim-mesh-no-metrics', 'defaults without the metrics filter (metrics.enabled: false)', { config: () => ({ inbound: NO_METRICS, outbound: NO_METRICS }) }),
    v('aim-mesh-no-retries', 'defaults without retries (retries.attempts: 1, retries.budget.enabled: false)', { config: (u) => ({ outbound: noRetries(u) }) }),
    v('aim-mesh-access-log', 'defaults plus the access log (--access-log, every request)', { args: ['--access-log'] }),
  ];
}

/** Which pair of variants prices which layer: cost = with − without. */
export const LAYER_TOGGLES: readonly LayerToggle[] = [
  { layer: 'metrics', with: 'aim-mesh-defaults', without: 'aim-mesh-no-metrics', toggle: 'metrics.enabled: false' },
  { layer: 'retries', with: 'aim-mesh-defaults', without: 'aim-mesh-no-retries', toggle: 'retries.attempts: 1, retries.budget.enabled: false' },
  { layer: 'access log', with: 'aim-mesh-access-log', without: 'aim-mesh-defaults', toggle: '--access-log (log.access_log.enabled: true)' },
];
