/**
 * HTTP/1.1 GET with a 1 MiB response body: the streaming cost (copies, TLS
 * record encryption, backpressure). Rates are lower than the small scenario's
 * because 1,000 rps of 1 MiB is 1 GiB/s through two TLS hops, more than two
 * cores can carry for any target; 50 and 200 rps keep every target unsaturated.
 */
import type { ScenarioSpec } from '../lib/scenario.ts';

export default {
  description: 'HTTP/1.1 GET, 1 MiB body, keep-alive',
  kind: 'http1',
  order: 20,
  path: '/large',
  bodyBytes: 1024 * 1024,
  rates: [50, 200],
  wrkConnections: 8,
  handshake: false,
} satisfies ScenarioSpec;
