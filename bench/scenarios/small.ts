/**
 * HTTP/1.1 GET with a small fixed response body over keep-alive: the per-request
 * cost of the proxy path, where parsing and bookkeeping dominate. Carries the
 * headline figures (1,000 and 5,000 rps) and the mTLS handshake rate.
 */
import type { ScenarioSpec } from '../lib/scenario.ts';

export default {
  description: 'HTTP/1.1 GET, 128-byte body, keep-alive',
  kind: 'http1',
  order: 10,
  path: '/small',
  bodyBytes: 128,
  rates: [1000, 5000],
  wrkConnections: 32,
  handshake: true,
} satisfies ScenarioSpec;
