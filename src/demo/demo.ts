/**
 * `npm start`: a local demo mesh on the embedded defaults. Two sample
 * services (web → api), each behind its own agent, wired through a static
 * registry file, with mTLS between the agents from a local dev CA.
 * Everything binds 127.0.0.1; start-up shows progress; Ctrl-C drains.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromObject } from '../config/load.ts';
import { startAgent, type RunningAgent } from '../agent/run.ts';
import { buildAgentTls } from '../agent/identity.ts';
import { createLogger } from '../telemetry/log.ts';
import { startApi, startWeb, type SampleApp } from './sample-apps.ts';

export interface DemoPorts {
  readonly webApp: number; readonly apiApp: number;
  readonly webInbound: number; readonly apiInbound: number;
  readonly webToApi: number;
  readonly webAdmin: number; readonly apiAdmin: number;
}

export const defaultDemoPorts: DemoPorts = { webApp: 18081, apiApp: 18082, webInbound: 21001, apiInbound: 21002, webToApi: 9191, webAdmin: 19000, apiAdmin: 19001 };

export interface Demo {
  readonly agents: RunningAgent[];
  readonly apps: SampleApp[];
  readonly ports: DemoPorts;
  stop(): Promise<void>;
}

export async function runDemo(opts: { ports?: DemoPorts; logLevel?: string; caDir?: string; out?: (s: string) => void } = {}): Promise<Demo> {
  const p = opts.ports ?? defaultDemoPorts;
  const out = opts.out ?? ((s: string) => process.stdout.write(s));
  const dir = mkdtempSync(join(tmpdir(), 'aim-mesh-demo-'));
  const caDir = opts.caDir ?? join(dir, 'ca');
  const log = createLogger({ level: opts.logLevel ?? 'warn', fd: 2 });
  const step = (i: number, n: number, what: string): void => out(`[${i}/${n}] ${what}\n`);
  const N = 4;

  step(1, N, `writing the static registry (${join(dir, 'registry.yaml')})`);
  const registry = join(dir, 'registry.yaml');
  writeFileSync(registry, `services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${p.apiInbound} }\n  web:\n    instances:\n      - { address: 127.0.0.1, port: ${p.webInbound} }\n`);

  step(2, N, 'starting the sample apps: api and web');
  const apps = [await startApi('api', p.apiApp, 0.05), await startWeb('web', p.webApp, p.webToApi)];

  step(3, N, `starting two agents with mTLS from a local dev CA (${caDir})`);
  const agents: RunningAgent[] = [];
  const mk = async (raw: Record<string, unknown>): Promise<RunningAgent> => {
    const cfg = configFromObject({ ...raw, discovery: { kind: 'static', registry }, log: { level: opts.logLevel ?? 'warn' }, drain_timeout: '5s' }, 'demo');
    const tls = await buildAgentTls(cfg, { identity: 'local-ca', 'ca-dir': caDir }, log);
    const a = await startAgent(cfg, { log: log.child({ service: cfg.service.name }), tls });
    agents.push(a);
    return a;
  };
  await mk({ service: { name: 'api', address: `127.0.0.1:${p.apiApp}` }, inbound: { listen: `127.0.0.1:${p.apiInbound}` }, admin: { bind: `127.0.0.1:${p.apiAdmin}` } });
  await mk({ service: { name: 'web', address: `127.0.0.1:${p.webApp}` }, inbound: { listen: `127.0.0.1:${p.webInbound}` },
    upstreams: [{ name: 'api', listen: `127.0.0.1:${p.webToApi}` }], admin: { bind: `127.0.0.1:${p.webAdmin}` } });

  step(4, N, 'ready');
  out(`
aim-mesh demo is running. Try:

  curl -s http://127.0.0.1:${p.webApp}/hello            # web app → its agent → mTLS → api's agent → api app
  curl -s http://127.0.0.1:${p.webToApi}/direct          # straight into web's outbound port for api
  curl -s http://127.0.0.1:${p.webAdmin}/clusters        # endpoints, EWMA, breaker state (web's agent)
  curl -s http://127.0.0.1:${p.webAdmin}/metrics | grep response_total
  curl -s http://127.0.0.1:${p.apiAdmin}/ready           # readiness of api's agent

The api app fails 5% of requests on purpose. Ctrl-C drains and stops everything.
`);
  return {
    agents, apps, ports: p,
    stop: async () => {
      await Promise.all(agents.map((a) => a.stop()));
      await Promise.all(apps.map((a) => new Promise<void>((r) => { a.server.closeAllConnections(); a.server.close(() => r()); })));
    },
  };
}
