/**
 * Command-line flags of `node bench/run.ts`, validated once. Defaults are sized
 * so the whole default run (3 runs of every scenario and target) stays under ten
 * minutes on a 2-core machine; --quick is one run with shorter phases.
 */
import { parseArgs } from 'node:util';

export interface BenchArgs {
  readonly targets: string[];
  readonly scenarios: string[];
  readonly runs: number;
  readonly warmupSec: number;
  readonly rateSec: number;
  readonly wrkSec: number;
  readonly handshakeSec: number;
  readonly wrkThreads: number;
  readonly connections: number;
  /** Extra flags for both aim-mesh agents (e.g. --no-mtls for an experiment); shown in the report. */
  readonly agentArgs: string[];
  readonly outDir: string;
  readonly keep: boolean;
  readonly quick: boolean;
  readonly help: boolean;
}

export const USAGE = `Usage: node bench/run.ts [options]      (npm run bench)

Measures the aim-mesh agent pair against an HAProxy pair, an nginx pair and
direct, on loopback (HTTP/1.1, and gRPC against a Node gRPC peer), prices each
default layer of the agent, and writes bench/results/latest.{json,md,svg}.

Options:
  --targets a,b        targets to run (default: all): direct, haproxy, nginx, aim-mesh, aim-mesh-w2, and the
                       per-layer variants aim-mesh-defaults, aim-mesh-no-metrics, aim-mesh-no-retries and
                       aim-mesh-access-log (these run only in the layers scenario)
  --scenarios a,b      scenarios to run (default: all files in bench/scenarios/): small, large, layers, grpc.
                       grpc and layers set their own, shorter phases (see their files; --quick may shorten them)
                       to keep the full run under 10 minutes; the phase flags below apply to the others
  --runs N             runs per figure; headline = median (default 3, --quick 1)
  --quick              one run with short phases (a smoke test, not for publishing)
  --warmup SEC         warm-up before each fixed-rate phase (default 1, quick 0.5)
  --rate-secs SEC      length of each fixed-rate phase (default 3, quick 2)
  --wrk-secs SEC       length of the closed-loop max-throughput phase, wrk or h2load (default 3, quick 2)
  --handshake-secs SEC length of the mTLS handshake phase (default 2, quick 1)
  --wrk-threads N      wrk threads (default 1)
  --connections N      open-loop client connections per target (default 32)
  --agent-args="ARGS"  extra flags for both aim-mesh agents, space-separated (e.g. --agent-args="--access-log");
                       they are printed in the report next to the figures
  --out DIR            output directory (default bench/results)
  --keep               keep the temp dir (configs, certs, process logs)
  -h, --help           this text
`;

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${name} must be a positive number, got '${v}'`);
  return n;
}

const list = (v: string | undefined): string[] => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      targets: { type: 'string' }, scenarios: { type: 'string' }, runs: { type: 'string' },
      quick: { type: 'boolean', default: false }, warmup: { type: 'string' }, 'rate-secs': { type: 'string' },
      'wrk-secs': { type: 'string' }, 'handshake-secs': { type: 'string' }, 'wrk-threads': { type: 'string' },
      connections: { type: 'string' }, 'agent-args': { type: 'string' }, out: { type: 'string' }, keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const q = v.quick === true;
  const runs = positive('runs', v.runs, q ? 1 : 3);
  if (!Number.isInteger(runs)) throw new Error(`--runs must be an integer, got '${v.runs}'`);
  return {
    targets: list(v.targets),
    scenarios: list(v.scenarios),
    runs,
    warmupSec: positive('warmup', v.warmup, q ? 0.5 : 1),
    rateSec: positive('rate-secs', v['rate-secs'], q ? 2 : 3),
    wrkSec: Math.max(1, Math.round(positive('wrk-secs', v['wrk-secs'], q ? 2 : 3))),
    handshakeSec: positive('handshake-secs', v['handshake-secs'], q ? 1 : 2),
    wrkThreads: Math.round(positive('wrk-threads', v['wrk-threads'], 1)),
    connections: Math.round(positive('connections', v.connections, 32)),
    agentArgs: (v['agent-args'] ?? '').split(/\s+/).filter(Boolean),
    outDir: v.out ?? 'bench/results',
    keep: v.keep === true,
    quick: q,
    help: v.help === true,
  };
}
