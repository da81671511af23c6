/**
 * Issue 2, test 1: a 100 MiB body streamed each way through outbound →
 * inbound → app, byte-exact (sha256 compared), with flat memory: the
 * process's RSS grows by less than 64 MiB while 200 MiB pass through it.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { request, Agent as UndiciAgent } from 'undici';
import { startHttpUpstream } from '../support/upstreams.ts';
import { startMeshPair } from '../support/mesh.ts';

const SIZE = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** Deterministic bytes: chunk i is filled with (i % 251). */
function source(size: number): Readable {
  let sent = 0;
  let i = 0;
  return new Readable({
    read() {
      if (sent >= size) { this.push(null); return; }
      const n = Math.min(CHUNK, size - sent);
      this.push(Buffer.alloc(n, i++ % 251));
      sent += n;
    },
  });
}

function expectedHash(size: number): string {
  const h = createHash('sha256');
  let sent = 0, i = 0;
  while (sent < size) { const n = Math.min(CHUNK, size - sent); h.update(Buffer.alloc(n, i++ % 251)); sent += n; }
  return h.digest('hex');
}

t.test('100 MiB up and down, byte-exact, flat memory', async (t) => {
  const app = await startHttpUpstream((req, res) => {
    if (req.method === 'PUT') {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => { h.update(c); n += c.length; });
      req.on('end', () => res.end(JSON.stringify({ bytes: n, sha256: h.digest('hex') })));
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked
      source(SIZE).pipe(res);
    }
  });
  const mesh = await startMeshPair({ appPort: app.port, extra: { drain_timeout: '2s' } });
  const client = new UndiciAgent();
  t.teardown(async () => { await client.close(); await mesh.stop(); await app.close(); });
  const want = expectedHash(SIZE);
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  t.teardown(() => clearInterval(sampler));

  const up = await request(`http://127.0.0.1:${mesh.port}/upload`, { method: 'PUT', body: source(SIZE), dispatcher: client });
  const upRes = await up.body.json() as { bytes: number; sha256: string };
  t.equal(up.statusCode, 200);
  t.equal(upRes.bytes, SIZE, 'app received every byte');
  t.equal(upRes.sha256, want, 'upload is byte-exact');

  const down = await request(`http://127.0.0.1:${mesh.port}/download`, { dispatcher: client });
  const h = createHash('sha256');
  let n = 0;
  for await (const c of down.body) { h.update(c as Buffer); n += (c as Buffer).length; }
  t.equal(down.statusCode, 200);
  t.equal(n, SIZE, 'client received every byte');
  t.equal(h.digest('hex'), want, 'download is byte-exact');
  clearInterval(sampler);
  const growth = (peak - rss0) / (1024 * 1024);
  t.ok(growth < 64, `RSS growth ${growth.toFixed(1)} MiB < 64 MiB while 200 MiB streamed`);
});
