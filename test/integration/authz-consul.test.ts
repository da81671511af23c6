/**
 * Intentions from Consul (authz.source: consul): the inbound agent asks the
 * Consul agent's connect/authorize endpoint (the project's Consul-API test
 * server) and caches the answer per caller. Allowed callers pass, denied ones
 * get 403 authz_denied (HTTP) or a closed connection (TCP); the app sees nothing.
 */
import t from 'tap';
import { connect } from 'node:net';
import { request } from 'undici';
import { startConsulTestServer } from '../support/consul/index.ts';
import { startHttpUpstream, startTcpEcho } from '../support/upstreams.ts';
import { startMeshPair } from '../support/mesh.ts';

t.test('HTTP: allow and deny intentions come from Consul', async (t) => {
  const consul = await startConsulTestServer();
  const app = await startHttpUpstream();
  const mesh = await startMeshPair({ appPort: app.port, mtls: true, extra: { drain_timeout: '1s',
    consul: { address: `127.0.0.1:${consul.port}` }, authz: { source: 'consul', consul: { cache_ttl: '100ms' } } } });
  t.teardown(async () => { await mesh.stop(); await app.close(); await consul.close(); });

  consul.intentions.set('web', 'api', 'deny');
  const denied = await request(`http://127.0.0.1:${mesh.port}/x`);
  t.equal(denied.statusCode, 403);
  t.equal(denied.headers['x-aim-mesh-error'], 'authz_denied');
  t.match((await denied.body.json() as { detail: string }).detail, /not allowed by Consul/);
  t.equal(app.requests, 0, 'nothing reached the app');

  consul.intentions.set('web', 'api', 'allow');
  await new Promise((r) => setTimeout(r, 150)); // past cache_ttl
  const allowed = await request(`http://127.0.0.1:${mesh.port}/x`);
  await allowed.body.dump();
  t.equal(allowed.statusCode, 200, 'allowed once the intention changes and the cache expires');
  t.equal(app.requests, 1);
});

t.test('TCP: a Consul deny closes the connection before the app sees a byte', async (t) => {
  const consul = await startConsulTestServer();
  const echo = await startTcpEcho();
  const mesh = await startMeshPair({ appPort: echo.port, protocol: 'tcp', mtls: true, extra: { drain_timeout: '1s',
    consul: { address: `127.0.0.1:${consul.port}` }, authz: { source: 'consul' } } });
  t.teardown(async () => { await mesh.stop(); await echo.close(); await consul.close(); });
  consul.intentions.set('web', 'api', 'deny');
  const got = await new Promise<string>((resolve) => {
    const s = connect(mesh.port, '127.0.0.1');
    let data = '';
    s.on('data', (b) => { data += b; });
    s.on('error', () => {});
    s.on('close', () => resolve(data));
    s.write('ping');
  });
  t.equal(got, '', 'closed without an echo');
  t.equal(echo.accepted, 0, 'the app never saw a connection');
});
