/**
 * Issue 4 through the data path: agent-to-agent mTLS with SPIFFE IDs from a
 * local CA; the app learns the caller's identity from a header the inbound
 * agent sets (and always strips from its input first); intentions allow and
 * deny over HTTP (403 authz_denied) and TCP (closed); a plaintext client on
 * the mTLS port is closed cleanly.
 */
import t from 'tap';
import { connect } from 'node:net';
import { request } from 'undici';
import { startHttpUpstream, startTcpEcho } from '../support/upstreams.ts';
import { startMeshPair } from '../support/mesh.ts';

t.test('HTTP over mTLS: the app sees the verified caller identity, never a forged one', async (t) => {
  const app = await startHttpUpstream();
  const mesh = await startMeshPair({ appPort: app.port, mtls: true, extra: { drain_timeout: '1s' } });
  t.teardown(async () => { await mesh.stop(); await app.close(); });
  const r = await request(`http://127.0.0.1:${mesh.port}/who`, { headers: { 'x-aim-mesh-peer-identity': 'spiffe://evil/ns/x/dc/y/svc/admin' } });
  t.equal(r.statusCode, 200);
  const echo = await r.body.json() as { headers: Record<string, string> };
  t.equal(echo.headers['x-aim-mesh-peer-identity'], 'spiffe://aim.local/ns/default/dc/dc1/svc/web', 'identity from the client certificate');
  t.equal(echo.headers['x-forwarded-proto'], 'http, https', 'the agent hop was TLS');
});

t.test('a plaintext client on the mTLS port is closed cleanly, and nothing reaches the app', async (t) => {
  const app = await startHttpUpstream();
  const mesh = await startMeshPair({ appPort: app.port, mtls: true, extra: { drain_timeout: '1s' } });
  t.teardown(async () => { await mesh.stop(); await app.close(); });
  const outcome = await new Promise<string>((resolve) => {
    const s = connect(mesh.inboundPort, '127.0.0.1');
    let got = '';
    s.on('data', (b) => { got += b.toString('latin1'); });
    s.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
    s.on('close', () => resolve(got.startsWith('HTTP/') ? 'http answer' : 'closed'));
    s.write('GET / HTTP/1.1\r\nHost: api\r\n\r\n');
  });
  t.match(outcome, /^(closed|error ECONNRESET)$/, `outcome: ${outcome}`);
  t.equal(app.requests, 0, 'the app received nothing');
});

t.test('intentions: deny by source over HTTP gives 403 authz_denied and the app sees nothing', async (t) => {
  const app = await startHttpUpstream();
  const mesh = await startMeshPair({ appPort: app.port, mtls: true, extra: { drain_timeout: '1s', authz: { default: 'allow', rules: [
    { name: 'no-writes-from-web', source: 'web', action: 'deny', http: { methods: ['POST'] } },
  ] } } });
  t.teardown(async () => { await mesh.stop(); await app.close(); });
  const ok = await request(`http://127.0.0.1:${mesh.port}/read`);
  await ok.body.dump();
  t.equal(ok.statusCode, 200, 'GET allowed by default');
  const denied = await request(`http://127.0.0.1:${mesh.port}/write`, { method: 'POST', body: 'x' });
  t.equal(denied.statusCode, 403);
  t.equal(denied.headers['x-aim-mesh-error'], 'authz_denied');
  const body = await denied.body.json() as { detail: string };
  t.match(body.detail, /spiffe:\/\/aim\.local\/ns\/default\/dc\/dc1\/svc\/web.*no-writes-from-web/);
  t.equal(app.requests, 1, 'the denied request never reached the app');
});

t.test('intentions over TCP: a denied caller is closed, an allowed one echoes', async (t) => {
  const echo = await startTcpEcho();
  const deny = await startMeshPair({ appPort: echo.port, protocol: 'tcp', mtls: true, extra: { drain_timeout: '1s', authz: { default: 'deny', rules: [] } } });
  const allow = await startMeshPair({ appPort: echo.port, protocol: 'tcp', mtls: true, extra: { drain_timeout: '1s', authz: { default: 'deny', rules: [{ source: 'web', action: 'allow' }] } } });
  t.teardown(async () => { await deny.stop(); await allow.stop(); await echo.close(); });
  const talk = (port: number) => new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (b) => { got += b; if (got === 'ping') s.end(); });
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    s.write('ping');
  });
  t.equal(await talk(deny.port), '', 'denied: closed without a byte');
  t.equal(await talk(allow.port), 'ping', 'allowed: echoed');
});

t.test('the caller identity is a bounded metric label on the inbound side', async (t) => {
  const app = await startHttpUpstream();
  const mesh = await startMeshPair({ appPort: app.port, mtls: true, extra: { drain_timeout: '1s' } });
  t.teardown(async () => { await mesh.stop(); await app.close(); });
  for (let i = 0; i < 3; i++) await (await request(`http://127.0.0.1:${mesh.port}/p`)).body.dump();
  const metrics = await (await request(`http://127.0.0.1:${mesh.inbound.adminPort}/metrics`)).body.text();
  t.match(metrics, 'inbound_peer_requests_total{target="api",peer="spiffe://aim.local/ns/default/dc/dc1/svc/web"} 3');
});
