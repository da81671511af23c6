/**
 * `aim-mesh coordinator`: run the control plane (certificate issuing, the mesh
 * view, the dashboard). Flags map onto src/coordinator/options.ts; the process
 * runs until SIGINT/SIGTERM and then closes every listener.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import YAML from 'yaml';
import { parseDuration } from '../../config/duration.ts';

export const usage = `Usage: aim-mesh coordinator --ca-dir DIR [options]

Runs the aim-mesh coordinator: agents get certificates (Identity.Certify) and
report their state (Mesh.Report) over gRPC with mTLS; the mesh view is served
as a JSON API, Prometheus metrics and a live dashboard.

Options:
  --listen HOST:PORT          gRPC for agents (default 0.0.0.0:15010)
  --http HOST:PORT            API, /metrics and dashboard (default 127.0.0.1:15011)
  --ca-dir DIR                CA directory as 'aim-mesh ca init --dir' writes it; created when absent (required)
  --trust-domain TD           SPIFFE trust domain (default aim.local)
  --datacenter DC             datacenter in the coordinator's own SPIFFE ID (default dc1)
  --join-token SERVICE=TOKEN  bootstrap token allowed to claim SERVICE ('*' = any); repeatable
  --join-token-file FILE      one SERVICE=TOKEN per line (# comments allowed)
  --leaf-ttl DURATION         lifetime of issued leaves, e.g. 90s, 15m, 24h (default 24h)
  --server-name NAME          extra DNS name or IP for the coordinator's certificate; repeatable
  --policy FILE               YAML/JSON policy (default_authz, authz, rate_limits) pushed to agents
  --objective SERVICE=RATE    success-rate objective of a service, e.g. api=0.995; repeatable
  --default-objective RATE    objective for other services (default 0.99)
  --stale-after N             report intervals without a report before an agent is stale (default 3)
  --remove-after N            report intervals before a silent agent is removed (default 12)
  --consul-addr URL           share the view with other replicas through Consul KV (e.g. http://127.0.0.1:8500)
  --consul-token-file FILE    Consul ACL token (or CONSUL_HTTP_TOKEN)
  --consul-prefix PREFIX      KV prefix (default aim-mesh/coordinator/v1/agents)
  --replica-id ID             this replica's name (default: host name and pid)
  --log-level LEVEL           pino level (default info)
  -h, --help                  show this help
`;

function hostPort(flag: string, v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new TypeError(`${flag} expects HOST:PORT, got '${v}'`);
  return { host: m[1] ?? m[2]!, port };
}

function durationFlag(flag: string, v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined) throw new TypeError(`${flag} expects a duration like 90s, 15m or 24h, got '${v}'`);
  return ms;
}

function keyValue(flag: string, v: string): [string, string] {
  const i = v.indexOf('=');
  if (i <= 0 || i === v.length - 1) throw new TypeError(`${flag} expects KEY=VALUE, got '${v}'`);
  return [v.slice(0, i).trim(), v.slice(i + 1).trim()];
}

function rate(flag: string, v: string): number {
  const n = Number(v);
  if (!(n > 0 && n <= 1)) throw new TypeError(`${flag} expects a rate in (0, 1], got '${v}'`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string' }, http: { type: 'string' }, 'ca-dir': { type: 'string' },
        'trust-domain': { type: 'string' }, datacenter: { type: 'string' },
        'join-token': { type: 'string', multiple: true }, 'join-token-file': { type: 'string' },
        'leaf-ttl': { type: 'string' }, 'server-name': { type: 'string', multiple: true }, policy: { type: 'string' },
        objective: { type: 'string', multiple: true }, 'default-objective': { type: 'string' },
        'stale-after': { type: 'string' }, 'remove-after': { type: 'string' },
        'consul-addr': { type: 'string' }, 'consul-token-file': { type: 'string' }, 'consul-prefix': { type: 'string' },
        'replica-id': { type: 'string' }, 'log-level': { type: 'string' },
      },
    }));
  } catch (err) {
    process.stderr.write(`aim-mesh coordinator: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const { startCoordinator } = await import('../../coordinator/coordinator.ts');
  const { parseJoinTokenFlag } = await import('../../coordinator/join-tokens.ts');
  const { parsePolicy } = await import('../../coordinator/policy.ts');
  let coordinator;
  const log = pino({ level: values['log-level'] ?? 'info', base: { component: 'coordinator' } });
  try {
    if (!values['ca-dir']) throw new TypeError('--ca-dir is required');
    const tokens = (values['join-token'] ?? []).map(parseJoinTokenFlag);
    if (values['join-token-file']) {
      const text = await readFile(values['join-token-file'], 'utf8');
      for (const line of text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) tokens.push(parseJoinTokenFlag(line));
    }
    const policyFile = values.policy;
    const policy = policyFile ? parsePolicy(YAML.parse(await readFile(policyFile, 'utf8')), policyFile) : undefined;
    const consulToken = values['consul-token-file'] ? (await readFile(values['consul-token-file'], 'utf8')).trim() : process.env.CONSUL_HTTP_TOKEN;
    const stale = values['stale-after'] ? Number(values['stale-after']) : 3;
    const remove = values['remove-after'] ? Number(values['remove-after']) : 12;
    coordinator = await startCoordinator({
      ...(values.listen ? { grpc: hostPort('--listen', values.listen) } : {}),
      ...(values.http ? { http: hostPort('--http', values.http) } : {}),
      caDir: values['ca-dir'],
      ...(values['trust-domain'] ? { trustDomain: values['trust-domain'] } : {}),
      ...(values.datacenter ? { datacenter: values.datacenter } : {}),
      joinTokens: tokens,
      ...(values['leaf-ttl'] ? { leafTtlMs: durationFlag('--leaf-ttl', values['leaf-ttl']) } : {}),
      serverNames: values['server-name'] ?? [],
      liveness: { staleAfterIntervals: stale, removeAfterIntervals: remove },
      alerts: {
        objectives: Object.fromEntries((values.objective ?? []).map((v) => { const [k, r] = keyValue('--objective', v); return [k, rate('--objective', r)]; })),
        ...(values['default-objective'] ? { defaultObjective: rate('--default-objective', values['default-objective']) } : {}),
      },
      ...(values['consul-addr'] ? { consul: { address: values['consul-addr'], ...(consulToken ? { token: consulToken } : {}), ...(values['consul-prefix'] ? { prefix: values['consul-prefix'] } : {}) } } : {}),
      ...(values['replica-id'] ? { replicaId: values['replica-id'] } : {}),
      ...(policy ? { policy } : {}),
      log,
    });
  } catch (err) {
    process.stderr.write(`aim-mesh coordinator: ${(err as Error).message}\n`);
    return 2;
  }
  process.stderr.write(`aim-mesh coordinator: gRPC on ${coordinator.grpcTarget}, dashboard at ${coordinator.httpUrl}/\n`);
  const c = coordinator;
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log.info({ signal: sig }, 'shutting down');
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve();
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  await c.close();
  return 0;
}
