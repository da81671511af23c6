/**
 * Issue 2, test 1: a 100 MiB body streamed each way through outbound →
 * inbound → app over mTLS, byte-exact (sha256 compared), with flat memory:
 * the agents run in their own process (as in production, with 2 MiB
 * semi-spaces), whose RSS grows by less than 64 MiB while 200 MiB pass.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { request, Agent as UndiciAgent } from 'undici';
import { startHttpUpstream } from '../support/upstreams.ts';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const SIZE = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;

// The 251 distinct chunks are made once, before memory is measured: the test's own client and app
// then allocate nothing per chunk, so RSS growth is the proxies'.
const CHUNKS = Array.from({ length: 251 }, (_, v) => Buffer.alloc(CHUNK, v));

/** Deterministic bytes: chunk i is filled with (i % 251). */
function source(size: number): Readable {
  let sent = 0;
  let i = 0;
  return new Readable({
    read() {
      if (sent >= size) { this.push(null); return; }
      const n = Math.min(CHUNK, size - sent);
      const c = CHUNKS[i++ % 251]!;
      this.push(n === CHUNK ? c : c.subarray(0, n));
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
  const child = spawn(process.execPath, ['--max-semi-space-size=2', 'test/support/mesh-child.ts', String(app.port), 'mtls'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`mesh child exited with ${code}`)));
  });
  const mesh = JSON.parse(first) as { port: number; pid: number };
  const client = new UndiciAgent();
  t.teardown(async () => { await client.close(); child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); await app.close(); });
  const want = expectedHash(SIZE);
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${mesh.pid}/status`, 'utf8'))![1]) * 1024;
  // Warm the path (TLS handshakes, pools, JIT) before the baseline.
  await (await request(`http://127.0.0.1:${mesh.port}/warm`, { dispatcher: client })).body.dump();
  const rss0 = rss();
  let peak = rss0;
  const sampler = setInterval(() => { peak = Math.max(peak, rss()); }, 50);
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
  t.ok(growth < 64, `agents' RSS growth ${growth.toFixed(1)} MiB < 64 MiB while 200 MiB streamed (baseline ${(rss0 / 1048576).toFixed(0)} MiB)`);
});
