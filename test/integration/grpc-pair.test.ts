/**
 * gRPC through an outbound → inbound agent pair, with real @grpc/grpc-js
 * clients and servers: the four call shapes (1,000 messages each way in
 * bidi), deadlines (grpc-timeout forwarded shrinking, and enforced by the
 * proxy), client cancel reaching the server, proxy errors as gRPC statuses,
 * grpc.health.v1, and per-call balancing over one client connection.
 */
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { tempRegistry } from '../support/mesh.ts';
import { echoClient, healthClient, startEchoApp, unary, type EchoApp, type Msg } from '../fixtures/protos/echo-app.ts';

interface Pair { port: number; outbound: RunningAgent; inbounds: RunningAgent[]; registry: string; inboundPorts: number[] }

/** One inbound agent per app, and an outbound agent whose upstream `api` lists them all. */
async function startPair(t: Test, appPorts: number[], upstream: Record<string, unknown> = {}): Promise<Pair> {
  const inbounds: RunningAgent[] = [];
  for (const appPort of appPorts) {
    inbounds.push(await startAgent(configFromObject({
      service: { name: 'api', address: `127.0.0.1:${appPort}` },
      inbound: { listen: '127.0.0.1:0', mtls: false },
      discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
      admin: { bind: '127.0.0.1:0' },
    }, 'test'), { log: silentLogger }));
  }
  const inboundPorts = inbounds.map((a) => a.agent.listeners.find((l) => l.name === 'inbound')!.port);
  const instances = inboundPorts.map((p) => `      - { address: 127.0.0.1, port: ${p} }\n`).join('');
  const registry = tempRegistry(`services:\n  api:\n    instances:${instances === '' ? ' []\n' : `\n${instances}`}`);
  const outbound = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', ...upstream }],
    discovery: { kind: 'static', registry },
    admin: { bind: '127.0.0.1:0' },
  }, 'test'), { log: silentLogger });
  t.teardown(async () => { await Promise.all([outbound.stop(), ...inbounds.map((a) => a.stop())]); });
  const port = outbound.agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  return { port, outbound, inbounds, registry, inboundPorts };
}

async function app(t: Test, name = 'app'): Promise<EchoApp> {
  const a = await startEchoApp(name);
  t.teardown(() => a.close());
  return a;
}

function client(t: Test, port: number) {
  const c = echoClient(port);
  t.teardown(() => c.close());
  return c;
}

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

t.test('the four call shapes pass through the pair', async (t) => {
  const a = await app(t);
  const pair = await startPair(t, [a.port]);
  const c = client(t, pair.port);

  await t.test('unary, with metadata both ways', async (t) => {
    const md = new grpc.Metadata();
    md.set('x-custom', 'hello');
    md.set('x-bin-bin', Buffer.from([0, 1, 2, 255]));
    const res = await unary<Msg>(c, 'Unary', { text: 'ping', n: 7, data: Buffer.from('abc') }, {}, md);
    t.same({ text: res.text, n: res.n, data: res.data?.toString(), backend: res.backend }, { text: 'ping', n: 7, data: 'abc', backend: 'app' });
    const seen = a.metadata.at(-1)!;
    t.equal(seen.get('x-custom')[0], 'hello', 'custom metadata reached the app');
    t.same(seen.get('x-bin-bin')[0], Buffer.from([0, 1, 2, 255]), 'binary metadata intact');
    t.equal(seen.get('x-aim-mesh-hops')[0], '2', 'crossed two agents');
    t.ok(seen.get('x-request-id')[0], 'request id generated');
  });

  await t.test('server streaming: 500 messages in order', async (t) => {
    const got: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = c.ServerStream({ text: 's', n: 500 });
      call.on('data', (m: Msg) => got.push(m.n!));
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    t.equal(got.length, 500);
    t.same(got, Array.from({ length: 500 }, (_, i) => i + 1), 'in order');
  });

  await t.test('client streaming: 500 messages in, one answer', async (t) => {
    const res = await new Promise<Msg>((resolve, reject) => {
      const call = c.ClientStream((err: Error | null, r: Msg) => (err ? reject(err) : resolve(r)));
      for (let i = 0; i < 500; i++) call.write({ text: 'x'.repeat(10), data: Buffer.alloc(100, i) });
      call.end();
    });
    t.equal(res.n, 500);
    t.equal(res.text, String(500 * 110), 'every byte arrived');
  });

  await t.test('bidi: 1,000 messages each way, echoed in order', async (t) => {
    const got: number[] = [];
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      const call = c.Bidi();
      call.on('data', (m: Msg) => { got.push(m.n!); bytes += m.data?.length ?? 0; });
      call.on('error', reject);
      call.on('end', () => resolve());
      let i = 0;
      const pump = (): void => {
        while (i < 1000) {
          i++;
          if (!call.write({ text: `m${i}`, n: i, data: Buffer.alloc(1024, i) })) { call.once('drain', pump); return; }
        }
        call.end();
      };
      pump();
    });
    t.equal(got.length, 1000, '1,000 echoes');
    t.same(got, Array.from({ length: 1000 }, (_, i) => i + 1), 'in order');
    t.equal(bytes, 1000 * 1024, 'payload bytes intact');
  });
});

t.test('deadlines', async (t) => {
  const a = await app(t);
  const pair = await startPair(t, [a.port]);
  const c = client(t, pair.port);

  await t.test('grpc-timeout is forwarded, shrinking hop by hop', async (t) => {
    await unary(c, 'Unary', { text: 'x' }, { deadline: Date.now() + 5000 });
    const forwarded = a.deadlines.at(-1)!;
    t.ok(forwarded > 4000 && forwarded <= 5000, `the app's call has a deadline ${Math.round(forwarded)} ms away (≤ 5000)`);
  });

  await t.test('the proxy enforces grpc-timeout itself: DEADLINE_EXCEEDED, and the server call is cancelled', async (t) => {
    // A raw HTTP/2 client that sends grpc-timeout but never enforces it.
    const before = a.cancelled;
    const session = http2.connect(`http://127.0.0.1:${pair.port}`);
    t.teardown(() => session.close());
    const msg = Buffer.from([0x0a, 0x01, 0x78, 0x28, 0xd0, 0x0f]); // Msg{text:"x", delay_ms:2000}
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const started = Date.now();
    const res = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const s = session.request({ ':method': 'POST', ':path': '/aim.test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' });
      let head: http2.IncomingHttpHeaders = {};
      s.on('response', (h) => { head = h; });
      s.on('trailers', (tr) => { head = { ...head, ...tr }; });
      s.on('error', reject);
      s.on('close', () => resolve(head));
      s.resume();
      s.end(frame);
    });
    t.equal(res[':status'], 200, 'HTTP 200: a gRPC status, not an HTTP error');
    t.equal(res['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED));
    t.match(decodeURIComponent(String(res['grpc-message'])), /^upstream_timeout: grpc-timeout of 300 ms exceeded/);
    t.equal(res['x-aim-mesh-error'], 'upstream_timeout');
    t.ok(Date.now() - started < 1900, 'answered at the deadline, not when the app finished');
    t.ok(await until(() => a.cancelled > before), 'the app saw its call cancelled');
  });

  await t.test('grpc-js deadline: DEADLINE_EXCEEDED, and the server call is cancelled', async (t) => {
    const before = a.cancelled;
    const err = await unary(c, 'Unary', { text: 'slow', delay_ms: 3000 }, { deadline: Date.now() + 300 }).catch((e: grpc.ServiceError) => e);
    t.equal((err as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED);
    t.ok(await until(() => a.cancelled > before), 'the cancel reached the server');
  });
});

t.test('a client cancel reaches the server', async (t) => {
  const a = await app(t);
  const pair = await startPair(t, [a.port]);
  const c = client(t, pair.port);
  const before = a.cancelled;
  await new Promise<void>((resolve) => {
    const call = c.Bidi();
    call.on('error', (e: grpc.ServiceError) => { t.equal(e.code, grpc.status.CANCELLED, 'client sees CANCELLED'); resolve(); });
    call.on('data', () => call.cancel());
    call.write({ text: 'hi', n: 1 });
  });
  t.ok(await until(() => a.cancelled > before), 'server observed the cancellation');
  // Server streaming that the client abandons half-way.
  const before2 = a.cancelled;
  await new Promise<void>((resolve) => {
    const call = c.ServerStream({ text: 's', n: 1000, delay_ms: 5 });
    let n = 0;
    call.on('data', () => { if (++n === 5) call.cancel(); });
    call.on('error', () => resolve());
  });
  t.ok(await until(() => a.cancelled > before2), 'an abandoned server stream is cancelled upstream');
});

t.test('proxy errors are gRPC statuses', async (t) => {
  await t.test('no endpoints → UNAVAILABLE naming no_endpoints', async (t) => {
    const pair = await startPair(t, []);
    const c = client(t, pair.port);
    const err = await unary(c, 'Unary', { text: 'x' }).catch((e: grpc.ServiceError) => e) as grpc.ServiceError;
    t.equal(err.code, grpc.status.UNAVAILABLE);
    t.match(err.details, /^no_endpoints: no available endpoint for api/);
    t.equal(err.metadata.get('x-aim-mesh-error')[0], 'no_endpoints');
    // Streaming shapes get the same status.
    const err2 = await new Promise<grpc.ServiceError>((resolve) => {
      const call = c.Bidi();
      call.on('error', resolve);
      call.on('data', () => {});
      call.write({ text: 'x' });
    });
    t.equal(err2.code, grpc.status.UNAVAILABLE, 'bidi too');
    const conns = pair.outbound.agent.listeners.find((l) => l.name === 'outbound:api')!.conns;
    t.ok(await until(() => [...conns].every((cn) => cn.idle)), 'no stream is left open after the local replies (drain stays quick)');
  });

  await t.test('upstream request timeout → DEADLINE_EXCEEDED naming upstream_timeout', async (t) => {
    const a = await app(t);
    const pair = await startPair(t, [a.port], { timeouts: { request: '200ms' } });
    const c = client(t, pair.port);
    const err = await unary(c, 'Unary', { text: 'x', delay_ms: 1500 }).catch((e: grpc.ServiceError) => e) as grpc.ServiceError;
    t.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    t.match(err.details, /^upstream_timeout: /);
  });

  await t.test('app down → UNAVAILABLE naming upstream_connect_failed (from the inbound agent)', async (t) => {
    const a = await startEchoApp('gone');
    const port = a.port;
    await a.close();
    const pair = await startPair(t, [port]);
    const c = client(t, pair.port);
    const err = await unary(c, 'Unary', { text: 'x' }).catch((e: grpc.ServiceError) => e) as grpc.ServiceError;
    t.equal(err.code, grpc.status.UNAVAILABLE);
    t.match(err.details, /^upstream_connect_failed: /);
  });

  await t.test('a server error status passes through untouched', async (t) => {
    const a = await app(t);
    const pair = await startPair(t, [a.port]);
    const h = healthClient(pair.port);
    t.teardown(() => h.close());
    const err = await unary(h, 'Check', { service: 'nope' }).catch((e: grpc.ServiceError) => e) as grpc.ServiceError;
    t.equal(err.code, grpc.status.NOT_FOUND);
    t.equal(err.details, 'unknown service nope');
    t.equal(err.metadata.get('x-aim-mesh-error').length, 0, 'not a proxy error');
  });
});

t.test('grpc.health.v1 through the pair', async (t) => {
  const a = await app(t);
  const pair = await startPair(t, [a.port]);
  const h = healthClient(pair.port);
  t.teardown(() => h.close());
  t.same(await unary(h, 'Check', { service: '' }), { status: 'SERVING' });
  t.same(await unary(h, 'Check', { service: 'aim.test.Echo' }), { status: 'SERVING' });
  a.health = 'NOT_SERVING';
  t.same(await unary(h, 'Check', { service: '' }), { status: 'NOT_SERVING' });
  const first = await new Promise<unknown>((resolve, reject) => {
    const call = h.Watch({ service: '' });
    call.on('data', (m: unknown) => { resolve(m); call.cancel(); });
    call.on('error', (e: grpc.ServiceError) => { if (e.code !== grpc.status.CANCELLED) reject(e); });
  });
  t.same(first, { status: 'NOT_SERVING' }, 'Watch streams the status');
});

t.test('per-call balancing: calls on ONE client connection spread over three backends', async (t) => {
  await t.test('round robin: every call picks its own backend', async (t) => {
    const apps = [await app(t, 'b1'), await app(t, 'b2'), await app(t, 'b3')];
    const pair = await startPair(t, apps.map((a) => a.port), { lb: 'round_robin' });
    const c = client(t, pair.port);
    const by = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const r = await unary<Msg>(c, 'Unary', { text: String(i) });
      by.set(r.backend!, (by.get(r.backend!) ?? 0) + 1);
    }
    t.same([...by.keys()].sort(), ['b1', 'b2', 'b3'], 'every backend answered');
    t.same([...by.values()], [10, 10, 10], 'round robin per call, not per connection');
    t.equal(pair.outbound.agent.h2Pools.get('outbound:api')!.connectsTotal, 3, 'one multiplexed session per endpoint');
  });

  await t.test('least request (the default): concurrent calls spread too', async (t) => {
    const apps = [await app(t, 'b1'), await app(t, 'b2'), await app(t, 'b3')];
    const pair = await startPair(t, apps.map((a) => a.port));
    const c = client(t, pair.port);
    const rs = await Promise.all(Array.from({ length: 60 }, (_, i) => unary<Msg>(c, 'Unary', { text: String(i), delay_ms: 30 })));
    const counts = new Map<string, number>();
    for (const r of rs) counts.set(r.backend!, (counts.get(r.backend!) ?? 0) + 1);
    t.same([...counts.keys()].sort(), ['b1', 'b2', 'b3'], `60 concurrent calls on one connection reached all three (${[...counts.values()].join('/')})`);
  });
});

t.test('an endpoint removed by discovery: its session closes, calls move on', async (t) => {
  const apps = [await app(t, 'stay'), await app(t, 'leave')];
  const pair = await startPair(t, apps.map((a) => a.port), { lb: 'round_robin' });
  const c = client(t, pair.port);
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add((await unary<Msg>(c, 'Unary', { text: 'x' })).backend!);
  t.same([...seen].sort(), ['leave', 'stay']);
  const pool = pair.outbound.agent.h2Pools.get('outbound:api')!;
  const leaving = `127.0.0.1:${pair.inboundPorts[1]}`;
  t.equal(pool.sessionsTo(leaving).length, 1, 'a session to the endpoint that will leave');
  writeFileSync(pair.registry, `services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${pair.inboundPorts[0]} }\n`);
  const cluster = pair.outbound.agent.clusters.get('api')!;
  t.ok(await until(() => cluster.endpoints.list.length === 1, 5000), 'discovery applied the change');
  t.equal(pool.sessionsTo(leaving).length, 0, 'its session left the pool');
  const after = new Set<string>();
  for (let i = 0; i < 4; i++) after.add((await unary<Msg>(c, 'Unary', { text: 'x' })).backend!);
  t.same([...after], ['stay'], 'every call now goes to the remaining endpoint');
});
