/**
 * What each default layer of the agent costs: the `small` request (HTTP/1.1
 * GET, 128-byte body, keep-alive) through fresh aim-mesh pairs that differ in
 * one layer each (targets/aim-mesh-layers.ts): metrics, retries, access log.
 * The pairs are started side by side, each warmed up with
 * 2 s of wrk, then measured in turns: 2 rounds of a 1-second wrk slice (32
 * connections) on each (lib/interleave.ts), so background load drifts over all
 * of them alike. Closed loop only: CPU per request at max throughput is the
 * figure that best separates a layer from the noise of a shared machine. The
 * per-layer table (lib/layers.ts) takes the differences within each run.
 */
import type { ScenarioSpec } from '../lib/scenario.ts';

export default {
  description: 'per-layer cost of the agent: HTTP/1.1 GET, 128-byte body, keep-alive, agent variants one layer apart',
  kind: 'http1',
  order: 15,
  path: '/small',
  bodyBytes: 128,
  rates: [],
  wrkConnections: 32,
  handshake: false,
  targets: ['aim-mesh-defaults', 'aim-mesh-no-metrics', 'aim-mesh-no-retries', 'aim-mesh-access-log'],
  interleave: true,
  phaseSec: { warmup: 2, closed: 2 },
} satisfies ScenarioSpec;
