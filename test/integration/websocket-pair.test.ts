/**
 * WebSocket (HTTP/1.1 Upgrade) tunnelled through an outbound → inbound agent
 * pair, with the `ws` client and server: text and binary frames, 1,000
 * echoes, ping/pong both ways, close codes and reasons both ways, a large
 * message, and an upstream that refuses the upgrade (its non-101 answer is a
 * normal response, and nothing after it is tunnelled).
 */
import http from 'node:http';
import net from 'node:net';
import t, { type Test } from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { startMeshPair, type MeshPair } from '../support/mesh.ts';

interface App { port: number; wss: WebSocketServer; closes: Array<{ code: number; reason: string }>; pongs: Buffer[]; upgrades: number }

async function startWsApp(t: Test): Promise<App> {
  const server = http.createServer((_req, res) => { res.end('plain http'); });
  const wss = new WebSocketServer({ noServer: true });
  const app: App = { port: 0, wss, closes: [], pongs: [], upgrades: 0 };
  server.on('upgrade', (req, socket, head) => {
    if (req.url === '/refuse') {
      // A non-101 answer, then bytes that look like a WebSocket frame: none of them may reach the client.
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\ndenied\x81\x05hello');
      return;
    }
    app.upgrades++;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws, req) => {
    ws.on('pong', (d) => app.pongs.push(d));
    ws.on('close', (code, reason) => app.closes.push({ code, reason: reason.toString() }));
    if (req.url === '/server-closes') { ws.close(4002, 'server says bye'); return; }
    if (req.url === '/server-pings') { ws.ping(Buffer.from('from server')); return; }
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  app.port = (server.address() as net.AddressInfo).port;
  t.teardown(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); server.closeAllConnections(); server.close(() => r()); }));
  return app;
}

async function pair(t: Test, app: App, mtls = false): Promise<MeshPair> {
  const p = await startMeshPair({ appPort: app.port, mtls });
  t.teardown(() => p.stop());
  return p;
}

function open(t: Test, url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    t.teardown(() => ws.terminate());
  });
}

function next(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary })));
}

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

t.test('WebSocket through the pair', async (t) => {
  const app = await startWsApp(t);
  const p = await pair(t, app);
  const url = `ws://127.0.0.1:${p.port}`;

  await t.test('text and binary frames', async (t) => {
    const ws = await open(t, `${url}/echo`);
    ws.send('héllo wörld');
    const a = await next(ws);
    t.equal(a.binary, false, 'text frame stays text');
    t.equal(a.data.toString('utf8'), 'héllo wörld');
    const bin = Buffer.from([0, 1, 2, 3, 254, 255]);
    ws.send(bin);
    const b = await next(ws);
    t.equal(b.binary, true, 'binary frame stays binary');
    t.same(b.data, bin);
    ws.close();
  });

  await t.test('1,000 echoes, in order', async (t) => {
    const ws = await open(t, `${url}/echo`);
    const got: string[] = [];
    const done = new Promise<void>((resolve) => ws.on('message', (d: Buffer) => { got.push(d.toString()); if (got.length === 1000) resolve(); }));
    for (let i = 0; i < 1000; i++) ws.send(`msg-${i}`);
    await done;
    t.same(got, Array.from({ length: 1000 }, (_, i) => `msg-${i}`));
    ws.close();
  });

  await t.test('a 4 MiB binary message', async (t) => {
    const ws = await open(t, `${url}/echo`);
    const big = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    ws.send(big);
    const r = await next(ws);
    t.ok(r.data.equals(big), 'byte-exact');
    ws.close();
  });

  await t.test('ping/pong both ways', async (t) => {
    const ws = await open(t, `${url}/echo`);
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping(Buffer.from('from client'));
    t.equal((await pong).toString(), 'from client', 'client ping answered by the server\'s pong');
    const before = app.pongs.length;
    const ws2 = await open(t, `${url}/server-pings`);
    t.ok(await until(() => app.pongs.length > before), 'server ping answered by the client\'s pong');
    t.equal(app.pongs.at(-1)!.toString(), 'from server');
    ws.close(); ws2.close();
  });

  await t.test('close code and reason from the client reach the server', async (t) => {
    const ws = await open(t, `${url}/echo`);
    const closed = new Promise<[number, string]>((resolve) => ws.once('close', (c: number, r: Buffer) => resolve([c, r.toString()])));
    const before = app.closes.length;
    ws.close(4001, 'client says bye');
    const [code, reason] = await closed;
    t.ok(await until(() => app.closes.length > before));
    t.same(app.closes.at(-1), { code: 4001, reason: 'client says bye' }, 'server saw the client\'s code and reason');
    t.same([code, reason], [4001, 'client says bye'], 'the server\'s echoed close reached the client');
  });

  await t.test('server-initiated close: code and reason reach the client', async (t) => {
    const ws = new WebSocket(`${url}/server-closes`);
    t.teardown(() => ws.terminate());
    const [code, reason] = await new Promise<[number, string]>((resolve, reject) => {
      ws.once('close', (c: number, r: Buffer) => resolve([c, r.toString()]));
      ws.once('error', reject);
    });
    t.same([code, reason], [4002, 'server says bye']);
  });

  await t.test('a frame sent right behind the upgrade request (before the 101) is delivered', async (t) => {
    const sock = net.connect(p.port, '127.0.0.1');
    t.teardown(() => sock.destroy());
    const payload = Buffer.from('early bird');
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
    sock.write(Buffer.concat([
      Buffer.from('GET /echo HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
      Buffer.from([0x81, 0x80 | payload.length]), mask, masked,
    ]));
    let buf = Buffer.alloc(0);
    const text = await new Promise<string>((resolve) => sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const frame = buf.subarray(end + 4);
      if (frame.length >= 2 && frame.length >= 2 + frame[1]!) resolve(`${buf.subarray(0, 12).toString()}|${frame.subarray(2, 2 + frame[1]!).toString()}`);
    }));
    t.equal(text, 'HTTP/1.1 101|early bird', '101, then the echo of the early frame');
  });

  await t.test('plain HTTP still works on the same port', async (t) => {
    const res = await fetch(`http://127.0.0.1:${p.port}/plain`);
    t.equal(await res.text(), 'plain http');
  });
});

t.test('an upstream that refuses the upgrade', async (t) => {
  const app = await startWsApp(t);
  const p = await pair(t, app);

  await t.test('ws sees the non-101 response', async (t) => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${p.port}/refuse`);
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode!); ws.terminate(); });
      ws.on('open', () => reject(new Error('opened')));
      ws.on('error', () => {});
    });
    t.equal(status, 403);
  });

  await t.test('raw bytes: a normal response, then close; nothing after it is tunnelled', async (t) => {
    const sock = net.connect(p.port, '127.0.0.1');
    sock.write('GET /refuse HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve) => sock.on('close', () => resolve()));
    const text = Buffer.concat(chunks).toString('latin1');
    t.match(text, /^HTTP\/1\.1 403 Forbidden\r\n/);
    t.match(text, /\r\nconnection: close\r\n/i, 'the agent closes after the refused upgrade');
    t.ok(text.endsWith('\r\n\r\ndenied'), 'the response body ends the stream');
    t.notMatch(text, /hello/, 'the bytes after the response were not tunnelled');
    t.equal(app.upgrades, 0);
  });
});

t.test('WebSocket over the agents\' real mTLS', async (t) => {
  const app = await startWsApp(t);
  const p = await pair(t, app, true);
  const ws = await open(t, `ws://127.0.0.1:${p.port}/echo`);
  const got: string[] = [];
  const done = new Promise<void>((resolve) => ws.on('message', (d: Buffer) => { got.push(d.toString()); if (got.length === 100) resolve(); }));
  for (let i = 0; i < 100; i++) ws.send(`m${i}`);
  await done;
  t.same(got, Array.from({ length: 100 }, (_, i) => `m${i}`));
  const closed = new Promise<[number, string]>((resolve) => ws.once('close', (c: number, r: Buffer) => resolve([c, r.toString()])));
  ws.close(4003, 'over mtls');
  t.same(await closed, [4003, 'over mtls']);
});
