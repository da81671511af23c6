/**
 * The AgentTls adapter (src/identity/agent-tls.ts) over real sockets, used the
 * way the agent's dialers use it: createServer for the public port,
 * tls.connect with clientOptions(ep), peerIdentity of accepted sockets.
 */
import tls from 'node:tls';
import t from 'tap';
import type { AgentTls } from '../../src/agent/tls.ts';
import { Endpoint } from '../../src/balancer/endpoint.ts';
import { createAgentTls } from '../../src/identity/agent-tls.ts';
import { TestSource, exchange, idOf, leafMaterial, listen, makeCa, quietLog } from '../unit/identity/fixtures.ts';

const scope = { trustDomain: 'aim.local', namespace: 'default', datacenter: 'dc1' };

t.test('agent TLS: verified inbound sockets and identity-checked dials', async (t) => {
  const ca = await makeCa(t);
  const api = createAgentTls(new TestSource(leafMaterial(ca, idOf('api'))), { scope, log: quietLog });
  const web = createAgentTls(new TestSource(leafMaterial(ca, idOf('web'))), { scope, log: quietLog });
  t.teardown(() => Promise.all([api.close(), web.close()]));
  const contract: AgentTls = api;
  const peers: Array<string | undefined> = [];
  const server = contract.createServer((s) => { peers.push(api.peerIdentity(s)); (s as tls.TLSSocket).end('ok'); }, quietLog as never) as tls.Server;
  const port = await listen(t, server);
  const ep = (identity?: string) => new Endpoint({ address: '127.0.0.1', port, weight: 1, tags: [], health: 'passing', ...(identity ? { identity } : {}) }, 0);

  const dial = (e: Endpoint, upstream?: string) => {
    const s = tls.connect({ ...web.clientOptions(e, upstream), host: '127.0.0.1', port });
    web.trackSession(s, e, upstream);
    return exchange(s);
  };
  t.ok((await dial(ep(), 'api')).ok, 'derived expected identity from the upstream name');
  t.same(peers, [idOf('web')], 'the server knows who called');
  t.ok((await dial(ep(idOf('api')))).ok, 'identity from discovery');
  const wrong = await dial(ep(idOf('db')));
  t.match(wrong.ok ? '' : wrong.err.message, /unexpected_identity/, 'discovery says db, the server is api: refused');
  const unknown = await dial(ep());
  t.match(unknown.ok ? '' : unknown.err.message, /no expected identity/, 'nothing to check against: fails closed');
  const e = ep(idOf('api'));
  await dial(e);
  const resumed = await new Promise<boolean>((resolve) => {
    const s = tls.connect({ ...web.clientOptions(e), host: '127.0.0.1', port });
    s.on('secureConnect', () => { resolve(s.isSessionReused()); s.destroy(); });
    s.on('error', () => resolve(false));
  });
  t.ok(resumed, 'trackSession enables resumption');
});
