/**
 * Issue 7, test 1: known traffic through a real agent pair, then a scrape of
 * both agents' /metrics, asserting exact counts and exact label sets.
 *
 * The client is a raw socket writing known bytes, so the byte counters can
 * be checked to the byte: what the client wrote is what the outbound agent
 * read, what the client received is what it wrote.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { request } from 'undici';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent } from '../../src/agent/run.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { startMeshPair, tempRegistry } from '../support/mesh.ts';
import { startHttpUpstream } from '../support/upstreams.ts';

/** One keep-alive exchange on a raw socket; resolves with the bytes of the whole response. */
function exchange(s: Socket, req: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (b: Buffer): void => {
      buf = Buffer.concat([buf, b]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (buf.length >= total) { s.off('data', onData); s.off('error', reject); resolve(buf.length); }
    };
    s.on('data', onData);
    s.on('error', reject);
    s.write(req);
  });
}

/** The series of one metric, as [labels-string, value]. */
function series(text: string, name: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const l of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(l);
    if (m) out.push([m[1] ?? '', Number(m[2])]);
  }
  return out;
}

t.test('exact counts and label sets after known traffic', async (t) => {
  const app = await startHttpUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = req.url === '/missing' ? 404 : req.url === '/boom' ? 500 : 200;
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
  });
  t.teardown(() => app.close());
  const mesh = await startMeshPair({ appPort: app.port });
  t.teardown(() => mesh.stop());

  const s = connect(mesh.port, '127.0.0.1');
  await once(s, 'connect');
  const reqs = [
    'GET /ok HTTP/1.1\r\nhost: api\r\nx-request-id: m-1\r\n\r\n',
    'GET /ok?user=alice HTTP/1.1\r\nhost: api\r\n\r\n',
    'GET /ok HTTP/1.1\r\nhost: api\r\n\r\n',
    'POST /missing HTTP/1.1\r\nhost: api\r\ncontent-length: 5\r\n\r\nhello',
    'POST /missing HTTP/1.1\r\nhost: api\r\ncontent-length: 3\r\n\r\nabc',
    'GET /boom HTTP/1.1\r\nhost: api\r\n\r\n',
  ];
  let sent = 0;
  let received = 0;
  for (const r of reqs) { sent += Buffer.byteLength(r); received += await exchange(s, r); }
  s.end();
  await once(s, 'close');
  // The outbound agent counts the close when its side of the socket closes.
  const scrape = async (port: number): Promise<string> => (await request(`http://127.0.0.1:${port}/metrics`)).body.text();
  let out = '';
  for (let i = 0; i < 100; i++) {
    out = await scrape(mesh.outbound.adminPort);
    if (series(out, 'tcp_close_total').some(([l, v]) => l.includes('"outbound"') && v === 1)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const inb = await scrape(mesh.inbound.adminPort);

  // --- outbound agent ---
  t.same(series(out, 'request_total').filter(([l]) => l.includes('"outbound"')), [['{direction="outbound",target="api"}', 6]]);
  t.same(series(out, 'response_total'), [
    ['{direction="outbound",target="api",classification="success",status_code="200",reason=""}', 3],
    ['{direction="outbound",target="api",classification="success",status_code="404",reason=""}', 2],
    ['{direction="outbound",target="api",classification="failure",status_code="500",reason=""}', 1],
  ], 'exact response series: classification by status, no proxy reason');
  t.same(series(out, 'response_latency_ms_count'), [['{direction="outbound",target="api"}', 6]]);
  t.same(series(out, 'response_latency_ms_bucket').find(([l]) => l.includes('le="+Inf"')), ['{direction="outbound",target="api",le="+Inf"}', 6]);
  t.same(series(out, 'tcp_open_total').filter(([l]) => l.includes('"outbound"')), [['{direction="outbound",target="api"}', 1]]);
  t.same(series(out, 'tcp_close_total').filter(([l]) => l.includes('"outbound"')), [['{direction="outbound",target="api"}', 1]]);
  t.same(series(out, 'tcp_open_connections').filter(([l]) => l.includes('"outbound"')), [['{direction="outbound",target="api"}', 0]]);
  t.same(series(out, 'tcp_read_bytes_total').filter(([l]) => l.includes('"outbound"')), [['{direction="outbound",target="api"}', sent]], 'bytes read = bytes the client wrote');
  t.same(series(out, 'tcp_write_bytes_total').filter(([l]) => l.includes('"outbound"')), [['{direction="outbound",target="api"}', received]], 'bytes written = bytes the client received');
  t.same(series(out, 'retry_total'), [['{direction="outbound",target="api"}', 0]]);
  t.same(series(out, 'overflow_total').map(([, v]) => v), [0, 0, 0, 0]);
  const stale = series(out, 'discovery_staleness_seconds');
  t.equal(stale.length, 1);
  t.equal(stale[0]![0], '{target="api"}');
  t.ok(stale[0]![1] >= 0 && stale[0]![1] < 60, 'the registry was read recently');

  // --- inbound agent: the same six requests, seen from the other side, over pooled connections ---
  t.same(series(inb, 'request_total').filter(([l]) => l.includes('"inbound"')), [['{direction="inbound",target="api"}', 6]]);
  t.same(series(inb, 'response_total'), [
    ['{direction="inbound",target="api",classification="success",status_code="200",reason=""}', 3],
    ['{direction="inbound",target="api",classification="success",status_code="404",reason=""}', 2],
    ['{direction="inbound",target="api",classification="failure",status_code="500",reason=""}', 1],
  ]);
  const inOpen = series(inb, 'tcp_open_total').find(([l]) => l.includes('"inbound"'))![1];
  t.ok(inOpen >= 1 && inOpen <= 2, `the outbound agent reuses its pooled connection (${inOpen})`);

  // --- label sets: exactly the catalogued labels, and never a path, query or request id ---
  const labelKeys = (labels: string): string[] => [...labels.matchAll(/([a-z_]+)="/g)].map((m) => m[1]!);
  const expected: Record<string, string[]> = {
    request_total: ['direction', 'target'],
    response_total: ['direction', 'target', 'classification', 'status_code', 'reason'],
    response_latency_ms_bucket: ['direction', 'target', 'le'],
    tcp_read_bytes_total: ['direction', 'target'],
    overflow_total: ['direction', 'target', 'kind'],
  };
  for (const [name, keys] of Object.entries(expected)) {
    for (const [labels] of series(out, name)) t.same(labelKeys(labels), keys, `${name} labels`);
  }
  for (const text of [out, inb]) {
    t.notMatch(text, /\/ok|\/missing|alice|m-1"/, 'no path, query or request id in any label');
  }
});

t.test('inbound rate limit: refusals are counted by reason and in ratelimit_rejected_total', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  const a = await startAgent(configFromObject({
    service: { name: 'api', address: `127.0.0.1:${app.port}` },
    inbound: { listen: '127.0.0.1:0', mtls: false, rate_limit: { global: { requests_per_second: 0.001, burst: 2 } } },
    discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
    admin: { bind: '127.0.0.1:0' },
    drain_timeout: '1s',
  }, 'test'), { log: silentLogger });
  t.teardown(() => a.stop());
  const port = a.agent.listeners.find((l) => l.name === 'inbound')!.port;
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) { const r = await request(`http://127.0.0.1:${port}/x`); await r.body.dump(); statuses.push(r.statusCode); }
  t.same(statuses, [200, 200, 429, 429, 429]);
  const text = await (await request(`http://127.0.0.1:${a.adminPort}/metrics`)).body.text();
  t.same(series(text, 'ratelimit_rejected_total'), [['{direction="inbound",target="api"}', 3]]);
  t.same(series(text, 'response_total'), [
    ['{direction="inbound",target="api",classification="success",status_code="200",reason=""}', 2],
    ['{direction="inbound",target="api",classification="failure",status_code="429",reason="rate_limited"}', 3],
  ]);
  t.same(series(text, 'request_total'), [['{direction="inbound",target="api"}', 5]]);
});

t.test('metrics.enabled: false leaves the metrics filter out; traffic still flows and tcp_* still count', async (t) => {
  const app = await startHttpUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  t.teardown(() => app.close());
  const mesh = await startMeshPair({ appPort: app.port, extra: { metrics: { enabled: false } } });
  t.teardown(() => mesh.stop());
  for (let i = 0; i < 3; i++) {
    const res = await request(`http://127.0.0.1:${mesh.port}/ok`);
    t.equal(await res.body.text(), 'ok');
  }
  const out = await (await request(`http://127.0.0.1:${mesh.outbound.adminPort}/metrics`)).body.text();
  t.notOk(series(out, 'request_total').some(([, v]) => v > 0), 'no request counted');
  t.same(series(out, 'response_total'), [], 'no response series');
  t.ok(series(out, 'tcp_open_total').some(([l, v]) => l.includes('"outbound"') && v >= 1), 'connections are still counted');
  t.notOk(mesh.outbound.agent.stacks.get('outbound:api')?.filters.some((f) => f.name === 'metrics'), 'not in the stack');
});
