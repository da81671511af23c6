/**
 * Issue 6 end to end: two real agents with `discovery: consul` against the
 * project's Consul-API test server. The inbound agent registers its app and
 * its connect-proxy sidecar; the outbound agent discovers the sidecar through
 * /v1/health/connect and proxies to it over mTLS; a graceful stop deregisters.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startConsulTestServer } from '../support/consul/index.ts';
import { startHttpUpstream } from '../support/upstreams.ts';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent } from '../../src/agent/run.ts';
import { buildAgentTls } from '../../src/agent/identity.ts';
import { silentLogger } from '../../src/telemetry/log.ts';

async function until(cond: () => boolean | Promise<boolean>, ms = 8000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return true; await new Promise((r) => setTimeout(r, 50)); }
  return false;
}

/** The config both agents of a test share: Consul discovery at `port`, fast checks, admin on any port. */
function consulCommon(port: number) {
  return {
    discovery: { kind: 'consul' },
    consul: { address: `127.0.0.1:${port}`, check: { interval: '500ms', ttl: '3s', deregister_critical_after: '1m', probe: { kind: 'tcp', timeout: '200ms' } } },
    admin: { bind: '127.0.0.1:0' }, drain_timeout: '1s',
  };
}

t.test('agent --discovery consul: register, discover, proxy over mTLS, deregister', async (t) => {
  const consul = await startConsulTestServer();
  const app = await startHttpUpstream();
  const caDir = mkdtempSync(join(tmpdir(), 'aim-ca-'));
  t.teardown(async () => { await app.close(); await consul.close(); });
  const common = consulCommon(consul.port);
  const apiRaw = { ...common, service: { name: 'api', address: `127.0.0.1:${app.port}` }, inbound: { listen: '127.0.0.1:0' } };
  const apiCfg = configFromObject(apiRaw, 'test');
  const api = await startAgent(apiCfg, { log: silentLogger, tls: await buildAgentTls(apiCfg, { 'ca-dir': caDir }, silentLogger) });
  let apiStopped = false;
  t.teardown(async () => { if (!apiStopped) await api.stop(); });

  t.ok(await until(() => consul.catalog.connect('api').length === 1), 'the sidecar is in the catalog as a connect-proxy for api');
  const sidecar = consul.catalog.connect('api')[0]!;
  t.equal(sidecar.service.Kind, 'connect-proxy');
  t.equal(sidecar.service.Port, api.agent.listeners.find((l) => l.name === 'inbound')!.port, 'advertises the bound public port');
  t.ok(consul.catalog.instances('api').length === 1, 'the app service is registered too');

  const webRaw = { ...common, service: { name: 'web', address: '127.0.0.1:1' }, inbound: { listen: '127.0.0.1:0' }, upstreams: [{ name: 'api', listen: '127.0.0.1:0' }],
    consul: { ...common.consul, register: false } };
  const webCfg = configFromObject(webRaw, 'test');
  const web = await startAgent(webCfg, { log: silentLogger, tls: await buildAgentTls(webCfg, { 'ca-dir': caDir }, silentLogger) });
  t.teardown(() => web.stop());
  const port = web.agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  t.ok(await until(async () => (await (await request(`http://127.0.0.1:${web.adminPort}/ready`)).body.json() as { ready: boolean }).ready), 'web is ready once discovery synced');
  const r = await request(`http://127.0.0.1:${port}/via-consul`);
  t.equal(r.statusCode, 200);
  const echo = await r.body.json() as { url: string; headers: Record<string, string> };
  t.equal(echo.url, '/via-consul');
  t.equal(echo.headers['x-aim-mesh-peer-identity'], 'spiffe://aim.local/ns/default/dc/dc1/svc/web', 'mTLS between the agents');

  await api.stop();
  apiStopped = true;
  t.equal(consul.catalog.connect('api').length, 0, 'graceful stop deregisters the sidecar');
  t.equal(consul.catalog.instances('api').length, 0, 'and the app service');
});

t.test('Consul goes down for 10 s during steady traffic: 0 failed requests (static stability)', async (t) => {
  const consul = await startConsulTestServer();
  const app = await startHttpUpstream();
  const caDir = mkdtempSync(join(tmpdir(), 'aim-ca-'));
  t.teardown(async () => { await app.close(); await consul.close(); });
  const common = consulCommon(consul.port);
  const apiCfg = configFromObject({ ...common, service: { name: 'api', address: `127.0.0.1:${app.port}` }, inbound: { listen: '127.0.0.1:0' } }, 'test');
  const api = await startAgent(apiCfg, { log: silentLogger, tls: await buildAgentTls(apiCfg, { 'ca-dir': caDir }, silentLogger) });
  const webCfg = configFromObject({ ...common, service: { name: 'web', address: '127.0.0.1:1' }, inbound: { listen: '127.0.0.1:0' },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0' }], consul: { ...common.consul, register: false } }, 'test');
  const web = await startAgent(webCfg, { log: silentLogger, tls: await buildAgentTls(webCfg, { 'ca-dir': caDir }, silentLogger) });
  t.teardown(async () => { await web.stop(); await api.stop(); });
  const port = web.agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  t.ok(await until(async () => (await (await request(`http://127.0.0.1:${web.adminPort}/ready`)).body.json() as { ready: boolean }).ready), 'web ready');

  let ok = 0, failed = 0, stop = false;
  const loop = (async () => {
    while (!stop) {
      try { const r = await request(`http://127.0.0.1:${port}/steady`); await r.body.dump(); if (r.statusCode === 200) ok++; else failed++; } catch { failed++; }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  await consul.faults.down();
  await new Promise((r) => setTimeout(r, 10_000));
  await consul.faults.up();
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await loop;
  t.equal(failed, 0, `0 failed requests (${ok} succeeded) while Consul was down for 10 s`);
  t.ok(ok > 100, 'traffic kept flowing');
});
