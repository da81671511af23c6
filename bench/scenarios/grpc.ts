/**
 * gRPC unary calls with small messages (16-byte request, 128-byte response)
 * against a Node gRPC peer (@grpc/grpc-js), through each pair in HTTP/2:
 * h2c from the client, h2 over the mTLS hop, h2c to the peer. The open loop
 * sends calls on 4 h2c sessions; h2load's closed loop keeps 4 connections × 8
 * streams busy (32 calls in flight, as wrk's 32 connections in `small`), and
 * every call must end with grpc-status 0 and the response message. One fixed
 * rate and shorter phases keep the full run under ten minutes.
 */
import type { ScenarioSpec } from '../lib/scenario.ts';

export default {
  description: 'gRPC unary, 16-byte request, 128-byte response, h2c in, h2 over mTLS between the proxies',
  kind: 'grpc',
  order: 30,
  path: '/bench.Bench/Unary',
  bodyBytes: 128,
  rates: [1000],
  wrkConnections: 4,
  streams: 8,
  handshake: false,
  phaseSec: { warmup: 0.5, rate: 2, closed: 2 },
} satisfies ScenarioSpec;
