/**
 * The clients of each scenario kind, behind one shape so measure.ts runs the
 * same phases for both: an open-loop generator for the fixed-rate phases and a
 * closed-loop tool for max throughput.
 *   http1: undici open loop (openloop.ts) and wrk; a GET must bring 200 and the body.
 *   grpc:  node:http2 unary calls (grpc-openloop.ts) and h2load with the framed
 *          request; a call must bring grpc-status 0 and the response message.
 */
import type { WrkResult } from './wrk-parse.ts';
import type { H2loadResult } from './h2load-parse.ts';
import type { ToolPaths } from './install.ts';
import type { ProcessGroup } from './procs.ts';
import type { Scenario } from './scenario.ts';
import { openLoopClient, runOpenLoop, type OpenLoopOptions, type OpenLoopResult } from './openloop.ts';
import { GrpcLoadClient, runGrpcOpenLoop } from './grpc-openloop.ts';
import { runWrk } from './wrk.ts';
import { runH2load } from './h2load.ts';

export interface ClosedLoopRun {
  /** Requests completed in the measured window. */
  readonly requests: number;
  readonly requestsPerSec: number;
  /** Failed requests of every kind (socket errors, non-2xx, gRPC errors). */
  readonly errors: number;
  readonly wrk?: WrkResult;
  readonly h2load?: H2loadResult;
}

export interface Driver {
  /** e.g. "wrk closed loop (3s, 32 connections)" */
  closedLabel(sec: number): string;
  openLoop(o: OpenLoopOptions): Promise<OpenLoopResult>;
  /** Runs the closed-loop tool as its own process; usable after closeOpenLoop. */
  closedLoop(sec: number): Promise<ClosedLoopRun>;
  /** Close the open-loop client's connections. */
  closeOpenLoop(): Promise<void>;
}

export interface DriverEnv {
  readonly procs: ProcessGroup;
  readonly tools: ToolPaths;
  /** A scratch directory (h2load's request file). */
  readonly dir: string;
  /** Open-loop keep-alive connections for HTTP/1 (--connections). */
  readonly connections: number;
  readonly wrkThreads: number;
}

function http1(env: DriverEnv, s: Scenario, origin: string): Driver {
  const pool = openLoopClient(origin, env.connections);
  return {
    closedLabel: (sec) => `max throughput, wrk closed loop (${sec}s, ${s.wrkConnections} connections)`,
    openLoop: (o) => runOpenLoop(pool, o),
    async closedLoop(sec) {
      const w = await runWrk(env.procs, { wrk: env.tools.wrk, url: `${origin}${s.path}`, durationSec: sec, connections: s.wrkConnections, threads: env.wrkThreads });
      const e = w.socketErrors;
      return { requests: w.requests, requestsPerSec: w.requestsPerSec, errors: w.non2xx3xx + e.connect + e.read + e.write + e.timeout, wrk: w };
    },
    closeOpenLoop: () => pool.close(),
  };
}

async function grpc(env: DriverEnv, s: Scenario, origin: string): Promise<Driver> {
  const client = await GrpcLoadClient.connect(origin, s.wrkConnections);
  const streams = s.streams ?? 1;
  return {
    closedLabel: (sec) => `max throughput, h2load closed loop (${sec}s, ${s.wrkConnections} connections × ${streams} streams)`,
    openLoop: (o) => runGrpcOpenLoop(client, o),
    async closedLoop(sec) {
      const h = await runH2load(env.procs, { h2load: env.tools.h2load, origin, dir: env.dir, durationSec: sec, connections: s.wrkConnections, streams });
      const errors = h.grpcErrors + h.failed + h.errored + h.timeout + h.status['3xx'] + h.status['4xx'] + h.status['5xx'];
      return { requests: h.requests, requestsPerSec: h.requestsPerSec, errors, h2load: h };
    },
    closeOpenLoop: () => client.close(),
  };
}

export function driverFor(env: DriverEnv, s: Scenario, origin: string): Promise<Driver> {
  return s.kind === 'grpc' ? grpc(env, s, origin) : Promise.resolve(http1(env, s, origin));
}
