/**
 * Found by the soak (bench/soak.ts): a WebSocket tunnel that ended never ran
 * the onDone filters, so each one leaked a concurrency slot (limits
 * .max_requests) and was never counted; after max_requests tunnels every
 * request got 503 overflow_requests. Tunnels closed either way (client
 * close, client terminate, upstream close) must release their slot.
 */
import t from 'tap';
import http from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { request } from 'undici';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent } from '../../src/agent/run.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { tempRegistry } from '../support/mesh.ts';
import { sleep } from './harness.ts';

t.test('ended WebSocket tunnels release their concurrency slot and are counted', async (t) => {
  const server = http.createServer((_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    ws.on('message', (m) => { if (req.url === '/server-closes') ws.close(); else ws.send(m); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const appPort = (server.address() as { port: number }).port;
  t.teardown(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); server.closeAllConnections(); server.close(() => r()); }));
  const reg = tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${appPort} }\n`);
  const a = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' }, inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', limits: { max_requests: 3 } }], discovery: { registry: reg }, admin: { bind: '127.0.0.1:0' }, drain_timeout: '1s',
  }, 'test'), { log: silentLogger });
  t.teardown(() => a.stop());
  const port = a.agent.listeners.find((l) => l.name === 'outbound:api')!.port;

  const session = (path: string, end: 'close' | 'terminate' | 'server'): Promise<void> => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.on('open', () => ws.send('hi'));
    ws.on('message', () => { if (end === 'close') ws.close(); else ws.terminate(); });
    ws.on('error', (e) => { if (end !== 'terminate') reject(e); });
    ws.on('close', () => resolve());
  });
  for (let i = 0; i < 4; i++) {
    await session('/ws', 'close');
    await session('/ws', 'terminate');
    await session('/server-closes', 'server');
  }
  await sleep(100);
  const r = await request(`http://127.0.0.1:${port}/after`);
  t.equal(r.statusCode, 200, `after 12 tunnels with max_requests 3, a request still gets through (${String(r.headers['x-aim-mesh-error'] ?? 'ok')})`);
  await r.body.dump();
  const metrics = await (await request(`http://127.0.0.1:${a.adminPort}/metrics`)).body.text();
  const m = /response_total\{direction="outbound",target="api",classification="success",status_code="101",reason=""\} (\d+)/.exec(metrics);
  t.equal(Number(m?.[1]), 12, 'every tunnel is counted once, as a 101');
});
