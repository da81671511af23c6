/**
 * The route policy applies to HTTP/2 and gRPC as to HTTP/1: retries on
 * connect failures, on retryable gRPC statuses (UNAVAILABLE by default) with
 * the request message replayed to the next endpoint, and method safety
 * (gRPC calls are POSTs: retried after a response only with an
 * Idempotency-Key). Real grpc-js clients and servers behind agent pairs.
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { tempRegistry } from '../support/mesh.ts';
import { echoClient, startEchoApp, unary, type EchoApp, type Msg } from '../fixtures/protos/echo-app.ts';

async function inboundFor(t: Test, appPort: number): Promise<number> {
  const a = await startAgent(configFromObject({
    service: { name: 'api', address: `127.0.0.1:${appPort}` },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
    admin: { bind: '127.0.0.1:0' },
  }, 'test'), { log: silentLogger });
  t.teardown(() => a.stop());
  return a.agent.listeners.find((l) => l.name === 'inbound')!.port;
}

async function outboundTo(t: Test, ports: number[], upstream: Record<string, unknown>): Promise<{ port: number; agent: RunningAgent }> {
  const instances = ports.map((p) => `      - { address: 127.0.0.1, port: ${p} }\n`).join('');
  const a = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', lb: 'round_robin', ...upstream }],
    discovery: { kind: 'static', registry: tempRegistry(`services:\n  api:\n    instances:\n${instances}`) },
    admin: { bind: '127.0.0.1:0' },
  }, 'test'), { log: silentLogger });
  t.teardown(() => a.stop());
  return { port: a.agent.listeners.find((l) => l.name === 'outbound:api')!.port, agent: a };
}

async function app(t: Test, name: string): Promise<EchoApp> {
  const a = await startEchoApp(name);
  t.teardown(() => a.close());
  return a;
}

async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

t.test('a refused connection is retried on another endpoint', async (t) => {
  const good = await app(t, 'good');
  const out = await outboundTo(t, [await deadPort(), await inboundFor(t, good.port)], { outlier: { enabled: false }, breaker: { enabled: false } });
  const c = echoClient(out.port);
  t.teardown(() => c.close());
  for (let i = 0; i < 6; i++) {
    const r = await unary<Msg>(c, 'Unary', { text: `call ${i}` });
    t.equal(r.text, `call ${i}`, `call ${i} answered by ${r.backend}`);
  }
  t.ok(out.agent.agent.clusters.get('api')!.resilience!.retryStats.retries >= 3, 'the dead endpoint\'s attempts were retried');
});

t.test('UNAVAILABLE from one backend: retried with the request replayed, when the call is marked idempotent', async (t) => {
  const bad = await app(t, 'bad');
  bad.failWith = grpc.status.UNAVAILABLE;
  const good = await app(t, 'good');
  const out = await outboundTo(t, [await inboundFor(t, bad.port), await inboundFor(t, good.port)], { outlier: { enabled: false }, breaker: { enabled: false } });
  const c = echoClient(out.port);
  t.teardown(() => c.close());
  const md = (): grpc.Metadata => { const m = new grpc.Metadata(); m.set('idempotency-key', 'k1'); return m; };
  for (let i = 0; i < 6; i++) {
    const r = await unary<Msg>(c, 'Unary', { text: `payload ${i}`, data: Buffer.alloc(1000, i) }, {}, md());
    t.same([r.text, r.backend, r.data?.length], [`payload ${i}`, 'good', 1000], `call ${i}: the good backend answered the replayed message`);
  }
  t.ok(bad.calls >= 3, `the bad backend was tried (${bad.calls} calls)`);

  // Without an idempotency key a POST that reached an upstream is never resent: the app's status passes through.
  const errs: grpc.ServiceError[] = [];
  for (let i = 0; i < 4; i++) {
    await unary(c, 'Unary', { text: 'x' }).catch((e: grpc.ServiceError) => errs.push(e));
  }
  t.ok(errs.length >= 1, 'some calls hit the bad backend and were not retried');
  t.ok(errs.every((e) => e.code === grpc.status.UNAVAILABLE && e.details === 'bad refuses'), 'the app\'s own status and message');
});
