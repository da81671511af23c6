/**
 * `npm start`: a local demo mesh on the embedded defaults (no Consul).
 *
 *   coordinator   issues every agent's certificate (Identity.Certify with a
 *                 join token), aggregates their reports, serves the dashboard
 *   web → api     three sample services, each behind its own agent, wired
 *   web → auth    through a static registry file; api fails 10% of requests
 *                 on purpose so retries, breakers and alerts have work to do
 *   traffic       a small generator calling web a few times per second
 *
 * Everything binds 127.0.0.1; start-up shows progress; Ctrl-C drains.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { configFromObject } from '../config/load.ts';
import { startAgent, type RunningAgent } from '../agent/run.ts';
import { buildAgentTls } from '../agent/identity.ts';
import { startReporting } from '../agent/report.ts';
import { startCoordinator, type Coordinator } from '../coordinator/coordinator.ts';
import { createLogger } from '../telemetry/log.ts';
import { startApi, startWeb, type SampleApp } from './sample-apps.ts';

export interface DemoPorts {
  readonly webApp: number; readonly apiApp: number; readonly authApp: number;
  readonly webInbound: number; readonly apiInbound: number; readonly authInbound: number;
  readonly webToApi: number; readonly webToAuth: number;
  readonly webAdmin: number; readonly apiAdmin: number; readonly authAdmin: number;
  readonly coordinatorGrpc: number; readonly coordinatorHttp: number;
}

export const defaultDemoPorts: DemoPorts = {
  webApp: 18081, apiApp: 18082, authApp: 18083,
  webInbound: 21001, apiInbound: 21002, authInbound: 21003,
  webToApi: 9191, webToAuth: 9192,
  webAdmin: 19000, apiAdmin: 19001, authAdmin: 19002,
  coordinatorGrpc: 15010, coordinatorHttp: 15011,
};

export interface Demo {
  readonly coordinator: Coordinator;
  readonly agents: RunningAgent[];
  readonly apps: SampleApp[];
  readonly ports: DemoPorts;
  readonly dashboardUrl: string;
  stop(): Promise<void>;
}

export interface DemoOptions {
  readonly ports?: DemoPorts;
  readonly logLevel?: string;
  /** Requests per second from the traffic generator (0 = none). */
  readonly rps?: number;
  /** Coordinator report interval (default 2 s, so the dashboard moves). */
  readonly reportIntervalMs?: number;
  readonly out?: (s: string) => void;
}

export async function runDemo(opts: DemoOptions = {}): Promise<Demo> {
  const p = opts.ports ?? defaultDemoPorts;
  const out = opts.out ?? ((s: string) => process.stdout.write(s));
  const dir = mkdtempSync(join(tmpdir(), 'aim-mesh-demo-'));
  const log = createLogger({ level: opts.logLevel ?? 'warn', fd: 2 });
  const N = 5;
  const step = (i: number, what: string): void => out(`[${i}/${N}] ${what}\n`);

  step(1, `starting the coordinator (CA in ${join(dir, 'ca')})`);
  const token = randomBytes(16).toString('hex');
  const coordinator = await startCoordinator({
    grpc: { host: '127.0.0.1', port: p.coordinatorGrpc }, http: { host: '127.0.0.1', port: p.coordinatorHttp },
    caDir: join(dir, 'ca'), joinTokens: [{ token, service: '*' }], log: log.child({ component: 'coordinator' }),
  });
  const bundle = join(dir, 'trust-bundle.pem');
  writeFileSync(bundle, coordinator.rootsPem.join('\n'));

  step(2, 'writing the static registry and starting the sample apps: web, api (fails 10%), auth');
  const registry = join(dir, 'registry.yaml');
  writeFileSync(registry, ['services:',
    ...[['api', p.apiInbound], ['auth', p.authInbound], ['web', p.webInbound]].map(([n, port]) => `  ${n}:\n    instances:\n      - { address: 127.0.0.1, port: ${port} }`), ''].join('\n'));
  const apps = [
    await startApi('api', p.apiApp, 0.1),
    await startApi('auth', p.authApp, 0),
    await startWeb('web', p.webApp, [{ name: 'api', port: p.webToApi }, { name: 'auth', port: p.webToAuth }]),
  ];

  step(3, 'starting three agents; each gets its mTLS certificate from the coordinator');
  const agents: RunningAgent[] = [];
  const reporters: Array<{ stop(): void }> = [];
  const interval = opts.reportIntervalMs ?? 2000;
  const mk = async (raw: Record<string, unknown>): Promise<void> => {
    const cfg = configFromObject({
      ...raw, discovery: { kind: 'static', registry }, log: { level: opts.logLevel ?? 'warn' }, drain_timeout: '3s',
      coordinator: { address: coordinator.grpcTarget, interval },
      identity: { source: 'coordinator', coordinator: { address: coordinator.grpcTarget, ca_file: bundle, join_token: token } },
    }, 'demo');
    const alog = log.child({ service: cfg.service.name });
    const tls = await buildAgentTls(cfg, {}, alog);
    const a = await startAgent(cfg, { log: alog, tls });
    reporters.push(await startReporting(a.agent, cfg.coordinator!, tls.source, alog));
    agents.push(a);
  };
  await mk({ service: { name: 'api', address: `127.0.0.1:${p.apiApp}` }, inbound: { listen: `127.0.0.1:${p.apiInbound}` }, admin: { bind: `127.0.0.1:${p.apiAdmin}` } });
  await mk({ service: { name: 'auth', address: `127.0.0.1:${p.authApp}` }, inbound: { listen: `127.0.0.1:${p.authInbound}` }, admin: { bind: `127.0.0.1:${p.authAdmin}` } });
  await mk({ service: { name: 'web', address: `127.0.0.1:${p.webApp}` }, inbound: { listen: `127.0.0.1:${p.webInbound}` },
    upstreams: [{ name: 'api', listen: `127.0.0.1:${p.webToApi}` }, { name: 'auth', listen: `127.0.0.1:${p.webToAuth}` }],
    admin: { bind: `127.0.0.1:${p.webAdmin}` } });

  const rps = opts.rps ?? 5;
  step(4, rps > 0 ? `starting a traffic generator: ${rps} requests/s to web` : 'no traffic generator (rps 0)');
  const traffic = rps > 0 ? setInterval(() => {
    const r = httpRequest({ host: '127.0.0.1', port: p.webApp, path: '/demo' }, (res) => res.resume());
    r.on('error', () => {});
    r.end();
  }, Math.max(1, Math.round(1000 / rps))) : undefined;

  step(5, 'ready');
  const dashboardUrl = coordinator.httpUrl;
  out(`
aim-mesh demo is running.

  Dashboard:  ${dashboardUrl}/          (live topology; click a service for its instances)

Try:
  curl -s http://127.0.0.1:${p.webApp}/hello          # web app → its agent → mTLS → api and auth
  curl -s http://127.0.0.1:${p.webToApi}/direct        # straight into web's outbound port for api
  curl -s http://127.0.0.1:${p.webAdmin}/clusters      # endpoints, EWMA, breaker state (web's agent)
  curl -s http://127.0.0.1:${p.webAdmin}/metrics | grep response_total
  curl -s ${dashboardUrl}/api/v1/mesh       # the coordinator's mesh view as JSON

The api app fails 10% of requests on purpose: retries absorb most of it. Ctrl-C drains and stops everything.
`);
  return {
    coordinator, agents, apps, ports: p, dashboardUrl,
    stop: async () => {
      if (traffic) clearInterval(traffic);
      for (const r of reporters) r.stop();
      await Promise.all(agents.map((a) => a.stop()));
      await Promise.all(apps.map((a) => new Promise<void>((r) => { a.server.closeAllConnections(); a.server.close(() => r()); })));
      await coordinator.close();
    },
  };
}
