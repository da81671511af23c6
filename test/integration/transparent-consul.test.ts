/**
 * Transparent mode with Consul discovery, end to end in two network
 * namespaces this test creates and deletes (10.200.11.0/24 on a veth pair):
 *
 *   B (remote hosts): the project's Consul-API test server on 10.200.11.10:8500
 *     (a child process bound to B's address); service `api` (an HTTP app on
 *     127.0.0.1, its agent on 10.200.11.2); service `grpc` with TWO instances
 *     (grpc-js apps on 127.0.0.1, agents on 10.200.11.3 and 10.200.11.4). The
 *     agents register themselves and their sidecars in Consul, which gives
 *     each service a `consul-virtual` VIP in 240.0.0.0/4.
 *   A (the app's pod): redirect-traffic's rules and an agent with
 *     --transparent and discovery consul, running as the proxy UID, with NO
 *     upstreams configured; app clients (curl, a grpc-js client) run as root.
 *
 * The app in A calls services it has no upstream for, by instance address and
 * by virtual IP; the capture maps them from the Consul catalog and the calls
 * go over mTLS to the agents in B. gRPC over one client connection is spread
 * per call over both `grpc` instances (captured h2c served per stream).
 * Skips, saying why, when not root, when ip/iptables/curl are absent or when
 * the orig-dst addon is not built.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_UID } from '../../src/k8s/defaults.ts';
import { curl, eventually, linkedNamespaces, metric, mtlsAvailable, netnsSkipReason, sh, spawnIn, stop, tcp, waitFor, type Proc } from '../support/netns.ts';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const CONSUL_MODULE = new URL('../support/consul/index.ts', import.meta.url).href;
const ECHO_MODULE = new URL('../fixtures/protos/echo-app.ts', import.meta.url).href;
const A = `aimt-cons-a-${process.pid}`;
const B = `aimt-cons-b-${process.pid}`;
const A4 = '10.200.11.1';
const API = '10.200.11.2';
const G1 = '10.200.11.3';
const G2 = '10.200.11.4';
const CONSUL = '10.200.11.10';
const OUTBOUND = 15001;
const INBOUND = 20000;
const ADMIN_A = 19000;
/** Process start-up under a loaded 2-core CI machine (five agents, Consul and the apps start at once). */
const START_MS = 45_000;

const CONSUL_SERVER = `
import { startConsulTestServer } from ${JSON.stringify(CONSUL_MODULE)};
const c = await startConsulTestServer({ host: '${CONSUL}', port: 8500, nodeAddress: '${CONSUL}', nodeName: 'b', jitter: false });
console.log('consul ready');
process.on('SIGTERM', () => { void c.close().then(() => process.exit(0)); });
`;

/** B's apps: `api` over HTTP/1, and two grpc-js Echo servers that name themselves in each answer. */
const APPS = `
import http from 'node:http';
import { startEchoApp } from ${JSON.stringify(ECHO_MODULE)};
http.createServer((req, res) => {
  if (req.url === '/big') { res.end(Buffer.alloc(64 << 20, 'x')); return; } // more than any socket buffers hold
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ app: 'api', hops: req.headers['x-aim-mesh-hops'] ?? null, peer: req.headers['x-aim-mesh-peer-identity'] ?? null }));
}).listen(8080, '127.0.0.1', async () => {
  const apps = [await startEchoApp('grpc-1'), await startEchoApp('grpc-2')];
  console.log('apps ready ' + JSON.stringify(apps.map((a) => a.port)));
});
`;

/**
 * A grpc-js client: CALLS concurrent unary calls (each held 30 ms by the app) on ONE channel to TARGET;
 * prints how many each backend answered. Concurrent, because the default balancer is least-request:
 * sequential calls may rightly all go to the least loaded (or fastest) instance.
 */
const GRPC_CLIENT = `
import * as grpc from '@grpc/grpc-js';
import { protos, unary } from ${JSON.stringify(ECHO_MODULE)};
const c = new protos.aim.test.Echo(process.env.TARGET, grpc.credentials.createInsecure());
const backends = {};
try {
  const rs = await Promise.all(Array.from({ length: Number(process.env.CALLS) }, (_, i) =>
    unary(c, 'Unary', { text: 'call ' + i, delay_ms: 30 }, { deadline: Date.now() + 5000 })));
  for (const r of rs) backends[r.backend] = (backends[r.backend] ?? 0) + 1;
  console.log(JSON.stringify({ backends }));
} catch (e) {
  console.log(JSON.stringify({ backends, error: e.message }));
}
c.close();
`;

async function grpcCalls(target: string, calls: number): Promise<{ backends: Record<string, number>; error?: string }> {
  const { stdout } = await sh('ip', ['netns', 'exec', A, process.execPath, '--input-type=module', '-e', GRPC_CLIENT],
    { cwd: fileURLToPath(new URL('../..', import.meta.url)), env: { ...process.env, TARGET: target, CALLS: String(calls) } });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { backends: Record<string, number>; error?: string };
}

/** Ask Consul (from B) for a service's connect endpoints. */
async function connectEntries(service: string): Promise<Array<{ Service: { Address: string; Port: number; TaggedAddresses?: Record<string, { address: string }> } }>> {
  const { stdout } = await sh('ip', ['netns', 'exec', B, 'curl', '-s', '-m', '5', `http://${CONSUL}:8500/v1/health/connect/${service}?passing`]);
  return JSON.parse(stdout) as Array<{ Service: { Address: string; Port: number; TaggedAddresses?: Record<string, { address: string }> } }>;
}

/** Hold N captured connections open (they wait for their first bytes), until killed. */
const HOLD = `
import net from 'node:net';
const socks = Array.from({ length: Number(process.env.N) }, () => net.connect({ host: process.env.HOST, port: Number(process.env.PORT) }));
let up = 0;
for (const s of socks) s.on('connect', () => { if (++up === socks.length) console.log('holding'); }).on('error', () => {});
`;

/** Ask for a large body and never read it. */
const SLOW_READER = `
import net from 'node:net';
const s = net.connect({ host: process.env.HOST, port: Number(process.env.PORT) }, () => { s.write('GET /big HTTP/1.1\\r\\nhost: api\\r\\n\\r\\n'); console.log('asked'); });
s.on('error', () => {});
setInterval(() => {}, 1000); // a socket that stopped reading no longer keeps the process alive
`;

const captured = (result: string) => new RegExp(`^transparent_capture_total\\{result="${result}"\\} `);

t.test('transparent mode with Consul: any catalog service by address or virtual IP, gRPC balanced per call', { skip: netnsSkipReason() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aim-tcons-'));
  chmodSync(dir, 0o755); // the agent in A runs as PROXY_UID and reads its config here
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const procs: Proc[] = [];
  t.teardown(async () => {
    await Promise.all(procs.map(stop)); // by PID, before the namespaces go
    await Promise.all([A, B].map((n) => sh('ip', ['netns', 'del', n]).catch(() => {})));
  });

  // === networking ===
  await linkedNamespaces(A, B, { a: [A4], b: [API, G1, G2, CONSUL] });
  // Consul's virtual IPs must be routable for the app's connect() to reach the OUTPUT chain (nothing answers them).
  await sh('ip', ['-n', A, 'route', 'add', '240.0.0.0/4', 'dev', 'va']);

  const caDir = join(dir, 'ca');
  const mtls = await mtlsAvailable(caDir);
  if (mtls) spawnSync('chmod', ['-R', 'a+rwX', caDir]);
  t.comment(mtls ? 'agents use mTLS (local-ca)' : 'agents run plaintext: src/agent/identity.ts cannot build mTLS identities');
  const tlsArgs = mtls ? ['--identity', 'local-ca', '--ca-dir', caDir] : ['--no-mtls'];
  const agent = (ns: string, name: string, yaml: string[], uid?: number): Proc => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, [...yaml,
      'discovery: { kind: consul }',
      'drain_timeout: 1s',
      ''].join('\n'));
    chmodSync(file, 0o644);
    return spawnIn(ns, [process.execPath, CLI, 'agent', '--config', file, ...tlsArgs], dir, uid);
  };
  const consulYaml = (extra = '') => `consul: { address: "${CONSUL}:8500", wait: 10s, check: { interval: 500ms, ttl: 3s, deregister_critical_after: 1m, probe: { kind: tcp, timeout: 200ms } }${extra} }`;

  // === B: Consul, the apps, their agents (they register in Consul) ===
  const consul = spawnIn(B, [process.execPath, '--input-type=module', '-e', CONSUL_SERVER], dir);
  const apps = spawnIn(B, [process.execPath, '--input-type=module', '-e', APPS], dir);
  procs.push(consul, apps);
  await Promise.all([waitFor(consul, 'consul ready', 'consul test server', START_MS), waitFor(apps, /apps ready \[\d+,\d+\]/, 'apps in B', START_MS)]);
  const [p1, p2] = JSON.parse(/apps ready (\[\d+,\d+\])/.exec(apps.output)![1]!) as [number, number];
  const inB = [
    agent(B, 'api', ['service: { name: api, address: "127.0.0.1:8080" }', `inbound: { listen: "${API}:${INBOUND}" }`, 'admin: { bind: "127.0.0.1:19001" }', consulYaml()]),
    agent(B, 'grpc-1', ['service: { name: grpc, address: "127.0.0.1:' + p1 + '" }', `inbound: { listen: "${G1}:${INBOUND}" }`, 'admin: { bind: "127.0.0.1:19002" }', consulYaml()]),
    // Another inbound port: one Consul agent (node) holds both, and the service ID is <name>-<inbound port>.
    agent(B, 'grpc-2', ['service: { name: grpc, address: "127.0.0.1:' + p2 + '" }', `inbound: { listen: "${G2}:${INBOUND + 1}" }`, 'admin: { bind: "127.0.0.1:19003" }', consulYaml()]),
  ];
  procs.push(...inB);
  await Promise.all(inB.map((p, i) => waitFor(p, 'admin listening', `agent ${i} in B`, START_MS)));

  // === A: the rules, then the agent (no upstreams) as the proxy UID ===
  // Rules first, as an init container does: a connection opened before them is not tracked by conntrack,
  // and once they exist its reply packets would be taken for new inbound connections and redirected.
  await sh(process.execPath, [CLI, 'redirect-traffic', '--netns', `/var/run/netns/${A}`, '--proxy-uid', String(PROXY_UID),
    '--proxy-inbound-port', String(INBOUND), '--proxy-outbound-port', String(OUTBOUND), '--proxy-admin-port', String(ADMIN_A)]);
  const outbound = agent(A, 'web', ['service: { name: web, address: "127.0.0.1:8081" }', `inbound: { listen: "${A4}:${INBOUND}" }`,
    `admin: { bind: "127.0.0.1:${ADMIN_A}" }`, consulYaml(', register: false'),
    // The overload manager and the slow-reader guard, as on explicit listeners (their own subtest below).
    'limits: { write_idle: 1s, overload: { max_active_connections: 4 } }',
    `transparent: { enabled: true, outbound_port: ${OUTBOUND} }`], PROXY_UID);
  procs.push(outbound);
  await waitFor(outbound, 'admin listening', 'outbound agent', START_MS);

  const api = await eventually(async () => { const e = await connectEntries('api'); return e.length === 1 ? e : undefined; });
  const apiVip = api[0]!.Service.TaggedAddresses?.['consul-virtual']?.address;
  t.match(apiVip, /^240\./, `Consul gave api a virtual IP (${apiVip})`);
  const grpc = await eventually(async () => { const e = await connectEntries('grpc'); return e.length === 2 ? e : undefined; });
  const grpcVip = grpc[0]!.Service.TaggedAddresses?.['consul-virtual']?.address;
  t.match(grpcVip, /^240\./, `both grpc sidecars are passing, with the service's virtual IP (${grpcVip})`);

  await t.test('HTTP to a service that is not an upstream, by its instance address, goes over mTLS to its agent', async (t) => {
    const r = await eventually(async () => { const x = await curl(A, `http://${API}:8080/hello`); return x.status === 200 ? x : undefined; });
    const body = JSON.parse(r.body) as { app: string; hops: string; peer: string | null };
    t.equal(body.app, 'api', 'delivered to the api app in B');
    t.equal(body.hops, '2', 'through two agents');
    if (mtls) t.match(body.peer, /^spiffe:\/\/.+\/web$/, "the inbound agent verified the caller's SPIFFE identity (mTLS)");
    t.ok(await metric(B, 19001, /^request_total\{direction="inbound",target="api"\} /) >= 1, "api's agent counted it");
  });

  await t.test('and by its Consul virtual IP, on any port', async (t) => {
    for (const url of [`http://${apiVip}/`, `http://${apiVip}:9999/x`]) {
      const r = await curl(A, url);
      t.equal(r.status, 200, url);
      t.equal((JSON.parse(r.body) as { app: string }).app, 'api', `${url} reached api`);
    }
  });

  await t.test('gRPC (h2c) to a virtual IP: the calls on one connection are balanced over both instances', async (t) => {
    const before = await metric(A, ADMIN_A, /^request_total\{direction="outbound",target="grpc"\} /);
    const r = await grpcCalls(`${grpcVip}:50051`, 40);
    t.equal(r.error, undefined, 'every call succeeded');
    t.same(Object.keys(r.backends).sort(), ['grpc-1', 'grpc-2'], `both instances answered (${JSON.stringify(r.backends)})`);
    t.equal((r.backends['grpc-1'] ?? 0) + (r.backends['grpc-2'] ?? 0), 40, 'forty answers');
    t.equal(await metric(A, ADMIN_A, /^request_total\{direction="outbound",target="grpc"\} /) - before, 40, 'the capture counted each call as a request, like an explicit listener');
    const byAddress = await grpcCalls(`${G1}:7777`, 40);
    t.same(Object.keys(byAddress.backends).sort(), ['grpc-1', 'grpc-2'], `by one instance's address, the calls still go to the service, balanced (${JSON.stringify(byAddress.backends)})`);
  });

  await t.test('the capture listener sheds load like the explicit ones: 503 overloaded, opaque connections closed', async (t) => {
    const hold = spawnIn(A, [process.execPath, '--input-type=module', '-e', HOLD], dir, undefined, { ...process.env, HOST: API, PORT: '5555', N: '5' });
    procs.push(hold);
    await waitFor(hold, 'holding', 'five idle captured connections');
    const r = await eventually(async () => { const x = await curl(A, `http://${API}:8080/`, [], ['-i']); return x.status === 503 ? x : undefined; }, 5000);
    t.match(r.body, /x-aim-mesh-error: overloaded/i, 'over max_active_connections, an HTTP/1 request is answered 503 overloaded');
    t.match(r.body, /retry-after: \d+/i, 'with Retry-After');
    const opaque = await tcp(A, API, 25, { WAIT: '3000' });
    t.ok(opaque.data === '' && opaque.how !== 'timeout', `an opaque connection (port 25) is closed at once (${opaque.how})`);
    await stop(hold);
    const back = await eventually(async () => { const x = await curl(A, `http://${API}:8080/`); return x.status === 200 ? x : undefined; }, 5000);
    t.equal((JSON.parse(back.body) as { app: string }).app, 'api', 'served again once the connections are gone');
  });

  await t.test('a captured HTTP/1 client that stops reading is cut by the send guard (limits.write_idle)', async (t) => {
    const slow = spawnIn(A, [process.execPath, '--input-type=module', '-e', SLOW_READER], dir, undefined, { ...process.env, HOST: API, PORT: '8080' });
    procs.push(slow);
    await waitFor(slow, 'asked', 'the slow reader');
    await waitFor(outbound, /slow reader: connection aborted.*"listener":"transparent"|"listener":"transparent".*slow reader: connection aborted/, 'the outbound agent', 15_000);
    t.pass('the agent aborted the connection of the client that stopped reading');
    await stop(slow);
  });

  await t.test('Consul itself is not a mesh service: passthrough', async (t) => {
    t.notMatch(outbound.output, /consul catalog query failed/, "the agent's catalog watch never failed");
    const r = await curl(A, `http://${CONSUL}:8500/v1/catalog/services`);
    t.equal(r.status, 200);
    t.same(Object.keys(JSON.parse(r.body) as object).sort(), ['api', 'api-sidecar-proxy', 'grpc', 'grpc-sidecar-proxy'], 'the app read the catalog directly');
    t.ok(await metric(A, ADMIN_A, captured('passthrough')) >= 1, 'counted as passthrough');
    t.ok(await metric(A, ADMIN_A, captured('mesh')) >= 4, 'the mesh calls were counted as mesh');
  });
});
