/**
 * The app probes that feed the TTL check, against real local servers: HTTP
 * (2xx passing, 429 warning, else critical, timeout), TCP connect, and the
 * gRPC health protocol served by @grpc/grpc-js.
 */
import t from 'tap';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createProbe, httpProbe, tcpProbe } from '../../src/discovery/consul/probe.ts';
import { decodeHealthResponse, encodeHealthRequest, grpcHealthProbe } from '../../src/discovery/consul/probe-grpc.ts';

t.test('http probe', async (t) => {
  let status = 200;
  let delay = 0;
  const server = createHttpServer((req, res) => {
    setTimeout(() => { res.writeHead(status); res.end(`path=${req.url}`); }, delay);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const target = { host: '127.0.0.1', port: (server.address() as { port: number }).port };
  const p = httpProbe(target, '/health', 300);
  t.match(await p(), { status: 'passing', output: /HTTP GET http:\/\/127\.0\.0\.1:\d+\/health: 200 Output: path=\/health/ });
  status = 429;
  t.equal((await p()).status, 'warning');
  status = 503;
  t.equal((await p()).status, 'critical');
  status = 200;
  delay = 600;
  const slow = await p();
  t.equal(slow.status, 'critical');
  t.match(slow.output, /timed out after 300ms/);
  delay = 0;
  const closed = httpProbe({ host: '127.0.0.1', port: 1 }, '/', 300);
  t.match(await closed(), { status: 'critical', output: /ECONNREFUSED/ });
});

t.test('tcp probe', async (t) => {
  const server = createTcpServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  t.match(await tcpProbe({ host: '127.0.0.1', port }, 300)(), { status: 'passing', output: `TCP connect 127.0.0.1:${port}: Success` });
  t.match(await tcpProbe({ host: '127.0.0.1', port: 1 }, 300)(), { status: 'critical', output: /ECONNREFUSED/ });
  const none = createProbe({ kind: 'none', path: '/', grpc_service: '', timeout: 100 }, { host: '127.0.0.1', port: 1 });
  t.equal((await none.probe()).status, 'passing');
});

t.test('grpc health messages are encoded by hand correctly', async (t) => {
  t.same(encodeHealthRequest(''), Buffer.alloc(0));
  t.same(encodeHealthRequest('api'), Buffer.from([0x0a, 3, 0x61, 0x70, 0x69]));
  t.equal(decodeHealthResponse(Buffer.from([0x08, 0x01])), 1);
  t.equal(decodeHealthResponse(Buffer.alloc(0)), 0, 'default UNKNOWN');
  t.equal(decodeHealthResponse(Buffer.from([0x12, 0x01, 0x00, 0x08, 0x02])), 2, 'unknown fields skipped');
});

t.test('grpc health probe against a grpc-js server', async (t) => {
  const statuses: Record<string, number> = { '': 1, api: 2 };
  const server = new grpc.Server();
  server.addService({
    Check: {
      path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false,
      requestSerialize: (v: string) => encodeHealthRequest(v),
      // An object, not a string: grpc-js treats a falsy request ('' for the whole server) as "no message".
      requestDeserialize: (b: Buffer) => ({ service: b.length > 2 ? b.subarray(2).toString() : '' }),
      responseSerialize: (v: number) => Buffer.from([0x08, v]),
      responseDeserialize: decodeHealthResponse,
    },
  } as grpc.ServiceDefinition, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, number>, cb: grpc.sendUnaryData<number>) => {
      const s = statuses[call.request.service];
      if (s === undefined) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' } as grpc.ServiceError, null);
      else cb(null, s);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const whole = grpcHealthProbe({ host: '127.0.0.1', port }, '', 1000);
  t.teardown(whole.close);
  t.match(await whole.probe(), { status: 'passing', output: /SERVING/ });
  const api = grpcHealthProbe({ host: '127.0.0.1', port }, 'api', 1000);
  t.teardown(api.close);
  t.match(await api.probe(), { status: 'critical', output: /NOT_SERVING/ });
  const missing = grpcHealthProbe({ host: '127.0.0.1', port }, 'nope', 1000);
  t.teardown(missing.close);
  t.match(await missing.probe(), { status: 'critical', output: /NOT_FOUND/ });
  const down = grpcHealthProbe({ host: '127.0.0.1', port: 1 }, '', 300);
  t.teardown(down.close);
  t.equal((await down.probe()).status, 'critical');
});
