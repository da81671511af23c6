/** `aim-mesh agent`: run a sidecar from a config file, quick flags, or both (flags win). */
import { configFromObject, loadConfigFile, readRawConfig } from '../../config/load.ts';
import { ConfigError } from '../../config/yaml-schema.ts';
import type { AgentConfig } from '../../config/schema.ts';
import { applyAgentFlags, parseAgentFlags } from '../../agent/flags.ts';
import { createLogger } from '../../telemetry/log.ts';
import cluster from 'node:cluster';
import { tuneTiering } from '../../agent/v8-tiering.ts';

export const usage = `Usage: aim-mesh agent [--config FILE] [quick flags]

Run a sidecar agent. With --config, the YAML file (see config/agent.yaml);
quick flags work without a file, or override it.

Quick flags:
  --service NAME              the local service's name
  --service-addr HOST:PORT    where the local app listens
  --service-protocol P        http (default) or tcp
  --listen HOST:PORT          the public (inbound, mTLS) port (default 0.0.0.0:20000)
  --upstream NAME:LOCAL_PORT  a local port for calling upstream NAME (repeatable;
                              NAME:LOCAL_PORT/tcp for opaque TCP)
  --registry FILE             static registry file (default config/registry.yaml)
  --discovery KIND            static (default) | consul
  --consul-addr HOST:PORT     the local Consul agent (selects --discovery consul)
  --consul-token TOKEN        ACL token (or consul.token_file / CONSUL_HTTP_TOKEN)
  --coordinator HOST:PORT     report to the coordinator (and, with --identity coordinator,
                              get the leaf from it: --coordinator-ca FILE, AIM_MESH_JOIN_TOKEN)
  --admin-bind HOST:PORT      admin server (default 127.0.0.1:19000)
  --admin-token TOKEN         required to bind admin beyond loopback
  --no-mtls                   plaintext between agents (local experiments only)
  --log-level LEVEL           trace|debug|info|warn|error (default info)
  --access-log                one JSON line per request
  --drain-timeout DURATION    graceful drain deadline (default 30s)
  --node NAME                 node name (default: hostname)
  --workers N                 worker processes sharing the listeners (default 1)
  --wait-for-app-port         not ready until the app's port accepts connections

Transparent mode (apps call services by their usual addresses; see aim-mesh redirect-traffic):
  --transparent               open the outbound capture listener (needs the orig-dst addon:
                              npm run build:native; run the agent as redirect-traffic's --proxy-uid)
  --outbound-port N           the capture port, = redirect-traffic --proxy-outbound-port (default 15001)
  --transparent-policy P      non-mesh destinations: passthrough (default) or block

Identity (mTLS between agents):
  --identity KIND             local-ca (default) | files | consul | coordinator
  --ca-dir DIR                local CA directory (default certs/dev; created if missing)
  --cert FILE --key FILE --ca FILE   files written by another system (selects 'files')
  --trust-domain DOMAIN       SPIFFE trust domain (default aim.local)

Examples:
  aim-mesh agent --config config/agent.yaml
  aim-mesh agent --service web --service-addr 127.0.0.1:8080 --listen 127.0.0.1:21000 \\
    --upstream api:9191 --registry config/registry.yaml --admin-bind 127.0.0.1:19000
`;

/** Flags the identity layer reads (kept apart from the config schema's quick flags). */
const identityFlags = ['--identity', '--ca-dir', '--cert', '--key', '--ca', '--trust-domain', '--coordinator-ca', '--join-token-file'];

export function splitIdentityFlags(argv: string[]): { rest: string[]; identity: Record<string, string> } {
  const rest: string[] = [];
  const identity: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [k, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (identityFlags.includes(k)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ConfigError([{ file: 'flags', path: k, line: undefined, value: 'nothing', expected: 'a value' }]);
      identity[k.slice(2)] = v;
    } else rest.push(a);
  }
  return { rest, identity };
}

export function configFromArgv(argv: string[]): AgentConfig {
  let flags;
  try {
    flags = parseAgentFlags(argv);
  } catch (err) {
    throw new ConfigError([{ file: 'flags', path: '', line: undefined, value: argv.join(' '), expected: (err as Error).message }]);
  }
  const { config: file, ...rest } = flags;
  const hasFlags = Object.values(rest).some((v) => v !== undefined);
  if (file !== undefined && !hasFlags) return loadConfigFile(file);
  const raw = file !== undefined ? readRawConfig(file) : {};
  return configFromObject(applyAgentFlags(raw, flags), file !== undefined ? `${file} (with flags)` : 'flags');
}

export async function run(argv: string[]): Promise<number> {
  tuneTiering();
  let config: AgentConfig;
  let identityArgs: Record<string, string>;
  try {
    const split = splitIdentityFlags(argv);
    identityArgs = split.identity;
    config = configFromArgv(split.rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`aim-mesh agent: invalid configuration:\n${err.issues.map((i) => `  ${i.line === undefined ? i.file : `${i.file}:${i.line}`}: ${i.path || '(top level)'}: ${i.expected} (found ${i.value})`).join('\n')}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ level: config.log.level }, { service: config.service.name });
  if (config.workers > 1 && cluster.isPrimary) {
    // The primary only forks, forwards signals and hands out connections: it never loads the
    // agent itself (identity, listeners, proxy, admin, metrics), so it stays small.
    const { runPrimary } = await import('../../agent/workers.ts');
    return runPrimary(config, identityArgs, log);
  }
  try {
    const { startAgent, exitOnSignals } = await import('../../agent/run.ts');
    const tls = config.inbound.mtls ? await (await import('../../agent/identity.ts')).buildAgentTls(config, identityArgs, log) : undefined;
    const running = await startAgent(config, { log, tls, onQuit: () => process.exit(0) });
    if (config.coordinator !== undefined && tls !== undefined) {
      // Reporting is soft state: it never blocks start-up and never touches the request path.
      const { startReporting } = await import('../../agent/report.ts');
      const rep = await startReporting(running.agent, config.coordinator, tls.source, log);
      running.agent.onStop(() => rep.stop());
    }
    exitOnSignals(running, log);
    return 0;
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'agent failed to start');
    log.flush?.();
    process.stderr.write(`aim-mesh agent: ${(err as Error).message}\n`);
    return 1;
  }
}
