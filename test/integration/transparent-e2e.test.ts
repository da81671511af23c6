/**
 * Transparent mode end to end, with real kernel networking in two network
 * namespaces this test creates and deletes (10.200.9.0/24 on a veth pair):
 *
 *   A (the app's pod): redirect-traffic's rules (applied through the CLI),
 *     an outbound agent with --transparent running as PROXY_UID (setpriv),
 *     and app clients (curl, node) running as root, which the rules capture.
 *   B (remote hosts): 10.200.9.2 = service `api` (an inbound agent in front of
 *     an HTTP app on 127.0.0.1), 10.200.9.3 = service `echo` (an inbound agent
 *     in front of a TCP app that greets first, then echoes), 10.200.9.4 = a
 *     host that is not in the mesh.
 *
 * Agents are child processes (`ip netns exec … node src/cli/index.ts agent`),
 * stopped by PID in teardown. Between the agents: mTLS when
 * src/agent/identity.ts can build it, else plaintext (the test says which).
 * Skips, saying why, when not root, when ip/iptables/curl are absent or when
 * the orig-dst addon is not built.
 */
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { saveNat } from '../../src/transparent/apply.ts';
import { PROXY_UID } from '../../src/k8s/defaults.ts';
import { configFromArgv } from '../../src/cli/commands/agent.ts';
import { curl, linkedNamespaces, metric, mtlsAvailable, netnsSkipReason, spawnIn, stop, tcp, waitFor, type Proc } from '../support/netns.ts';

const sh = promisify(execFile);
const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const A = `aimt-e2e-a-${process.pid}`;
const B = `aimt-e2e-b-${process.pid}`;
const A4 = '10.200.9.1';
const API = '10.200.9.2';
const ECHO = '10.200.9.3';
const EXT = '10.200.9.4';
const LOOPY = '10.200.9.5';
const VIP = '10.200.99.10';
const A6 = 'fd00:200:9::1';
const EXT6 = 'fd00:200:9::4';
const OUTBOUND = 15001;
const INBOUND = 20000;
const ADMIN_A = 19000;

/** B's apps: `api` (HTTP, reports what it saw), `echo` (greets, then echoes) and a non-mesh host. */
const APPS = `
import http from 'node:http';
import net from 'node:net';
const reply = (app) => (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ app, host: req.headers.host, hops: req.headers['x-aim-mesh-hops'] ?? null,
    peer: req.headers['x-aim-mesh-peer-identity'] ?? null, remote: req.socket.remoteAddress, connections: ext.count }));
};
const ext = { count: 0 };
const servers = [
  http.createServer(reply('api')).listen(8080, '127.0.0.1'),
  net.createServer((s) => { s.write('hello from echo\\n'); s.pipe(s); }).listen(7070, '127.0.0.1'),
  http.createServer(reply('external')).on('connection', () => ext.count++).listen(9000, '${EXT}'),
  net.createServer((s) => { ext.count++; s.end('external tcp\\n'); }).listen(9001, '${EXT}'),
  net.createServer((s) => { s.end('external tcp from ' + s.remoteAddress + '\\n'); }).listen(9001, '${EXT6}'),
];
let up = 0;
for (const s of servers) s.on('listening', () => { if (++up === servers.length) console.log('ready'); });
`;

const captured = (result: string) => new RegExp(`^transparent_capture_total\\{result="${result}"\\} `);

const redirect = async (args: string[]) => sh(process.execPath, [CLI, 'redirect-traffic', '--netns', `/var/run/netns/${A}`, ...args]);
const ruleArgs = (uid: number) => ['--ipv6', '--proxy-uid', String(uid), '--proxy-inbound-port', String(INBOUND), '--proxy-outbound-port', String(OUTBOUND), '--proxy-admin-port', String(ADMIN_A)];
const normalise = (save: string) => save.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]')).join('\n');

t.test('transparent mode: capture, mesh delivery, TCP, passthrough and block, no loops, cleanup', { skip: netnsSkipReason() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aim-e2e-'));
  chmodSync(dir, 0o755); // the outbound agent runs as PROXY_UID and reads the registry here
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const procs: Proc[] = [];
  t.teardown(async () => {
    await Promise.all(procs.map(stop)); // by PID, before the namespaces go
    await Promise.all([A, B].map((n) => sh('ip', ['netns', 'del', n]).catch(() => {})));
  });

  // === networking ===
  await linkedNamespaces(A, B, { a: [A4], b: [API, ECHO, EXT], a6: [A6], b6: [EXT6] });
  await sh('ip', ['-n', A, 'route', 'add', '10.200.99.0/24', 'dev', 'va']); // the virtual IPs: routable, never answered

  const registry = join(dir, 'registry.yaml');
  writeFileSync(registry, [
    'services:',
    '  api:',
    `    virtual_ips: [${VIP}]`,
    `    instances: [{ address: ${API}, port: ${INBOUND} }]`,
    '  echo:',
    `    instances: [{ address: ${ECHO}, port: ${INBOUND} }]`,
    '  loopy:', // nothing listens there: only a captured agent connection would ever "reach" it
    `    instances: [{ address: ${LOOPY}, port: ${INBOUND} }]`,
    '',
  ].join('\n'));
  chmodSync(registry, 0o644);

  const caDir = join(dir, 'ca');
  const mtls = await mtlsAvailable(caDir);
  if (mtls) spawnSync('chmod', ['-R', 'a+rwX', caDir]);
  t.comment(mtls ? 'agents use mTLS (local-ca)' : 'agents run plaintext: src/agent/identity.ts cannot build mTLS identities yet');
  const tlsArgs = mtls ? ['--identity', 'local-ca', '--ca-dir', caDir] : ['--no-mtls'];
  const agentArgs = (service: string, appAddr: string, listen: string, admin: number, extra: string[] = []) => [process.execPath, CLI, 'agent',
    '--service', service, '--service-addr', appAddr, '--listen', listen, '--registry', registry, '--admin-bind', `127.0.0.1:${admin}`,
    '--drain-timeout', '1', ...tlsArgs, ...extra];

  // === B: apps and inbound agents; A: the outbound agent as PROXY_UID ===
  const apps = spawnIn(B, [process.execPath, '--input-type=module', '-e', APPS], dir);
  const api = spawnIn(B, agentArgs('api', '127.0.0.1:8080', `${API}:${INBOUND}`, 19001), dir);
  const echo = spawnIn(B, agentArgs('echo', '127.0.0.1:7070', `${ECHO}:${INBOUND}`, 19002, ['--service-protocol', 'tcp']), dir);
  const outArgs = (policy: string) => agentArgs('web', '127.0.0.1:8081', `${A4}:${INBOUND}`, ADMIN_A,
    ['--transparent', '--outbound-port', String(OUTBOUND), '--transparent-policy', policy]);
  let outbound = spawnIn(A, outArgs('passthrough'), dir, PROXY_UID);
  procs.push(apps, api, echo, outbound);
  await Promise.all([waitFor(apps, 'ready', 'apps in B'), waitFor(api, 'admin listening', 'api agent'),
    waitFor(echo, 'admin listening', 'echo agent'), waitFor(outbound, 'admin listening', 'outbound agent')]);
  t.match(outbound.output, /transparent capture listening/, 'the outbound agent opened the capture listener');

  const before = await Promise.all([4, 6].map((f) => saveNat({ netns: `/var/run/netns/${A}` }, f as 4 | 6)));
  t.equal((await curl(A, `http://${API}:8080/`)).exit, 7, 'before the rules, the app cannot reach api (its app listens on loopback only)');
  await redirect(ruleArgs(PROXY_UID));

  await t.test('(1) HTTP to a service by its registry address is captured and carried to B', async (t) => {
    const r = await curl(A, `http://${API}:8080/hello`);
    t.equal(r.status, 200);
    const body = JSON.parse(r.body) as { app: string; host: string; hops: string; peer: string | null; remote: string };
    t.equal(body.app, 'api', 'delivered to the api app in B');
    t.equal(body.host, `${API}:8080`, 'the Host header is the one the app sent');
    t.equal(body.hops, '2', 'through two agents (x-aim-mesh-hops)');
    t.equal(body.remote, '127.0.0.1', 'by the inbound agent');
    if (mtls) t.match(body.peer, /^spiffe:\/\/.+\/web$/, "the inbound agent verified the caller's SPIFFE identity");
    const vip = JSON.parse((await curl(A, `http://${VIP}/`)).body) as { app: string };
    t.equal(vip.app, 'api', 'a virtual IP of the service is captured the same way');
    const byHost = JSON.parse((await curl(A, `http://${EXT}:9000/`, ['Host: api.service.consul'])).body) as { app: string };
    t.equal(byHost.app, 'api', 'a non-mesh address with Host api.service.consul goes to api');
    t.ok(await metric(B, 19001, /^request_total\{direction="inbound",target="api"\} /) >= 3, "the inbound agent's metrics show the requests");
    t.equal(await metric(A, ADMIN_A, captured('mesh')), 3, 'the capture counted three mesh connections');
    const exposition = (await curl(A, `http://127.0.0.1:${ADMIN_A}/metrics`)).body;
    t.match(exposition, /^retry_total\{direction="outbound",target="api"\} \d+$/m, 'a captured service has the upstream resilience series (retry_total, ...)');
    t.match(exposition, /^discovery_staleness_seconds\{target="api"\} /m, 'and its discovery status');
  });

  await t.test('(2) plain TCP (echo) the same way, and a server-speaks-first opaque port', async (t) => {
    const r = await tcp(A, ECHO, 7070, { SEND: 'ping\n', UNTIL: 'ping\n' });
    t.equal(r.data, 'hello from echo\nping\n', 'greeting and echo from the echo app in B');
    const smtp = await tcp(A, ECHO, 25, { UNTIL: 'hello', WAIT: '3000' });
    t.equal(smtp.data, 'hello from echo\n', 'opaque port 25: forwarded at once, the server greets first');
  });

  await t.test('(3) a non-mesh destination passes through', async (t) => {
    const r = JSON.parse((await curl(A, `http://${EXT}:9000/`)).body) as { app: string; remote: string; hops: string | null };
    t.same([r.app, r.remote, r.hops], ['external', A4, null], 'reached directly from A, not through an agent');
    t.equal((await tcp(A, EXT, 9001, { SEND: 'hi\n' })).data, 'external tcp\n', 'TCP too');
    t.equal((await tcp(A, EXT6, 9001, { SEND: 'hi\n' })).data, `external tcp from ${A6}\n`, 'IPv6 too (ip6tables rules, dual-stack capture)');
    t.equal(await metric(A, ADMIN_A, captured('passthrough')), 3, 'counted as passthrough');
    const ex = JSON.parse((await curl(A, `http://127.0.0.1:${ADMIN_A}/explain?transparent`)).body) as { policy: string; counts: Record<string, number>; recent_non_mesh: Array<Record<string, unknown>> };
    t.equal(ex.policy, 'passthrough');
    t.equal(ex.counts['passthrough'], 3, '/explain?transparent shows the passthrough count');
    t.ok(ex.recent_non_mesh.some((d) => JSON.stringify(d).includes(`${EXT}:9000`)), `and the destination that passed through (${JSON.stringify(ex.recent_non_mesh).slice(0, 200)})`);
    t.equal((await tcp(A, '127.0.0.1', OUTBOUND, { SEND: 'hi\n' })).data, '', 'a direct connection to the capture port is refused');
    t.equal(await metric(A, ADMIN_A, captured('no_original_dst')), 1, 'and counted');
  });

  await t.test('(5) no loop: the agent\'s own connections are not captured; a misconfigured UID is caught', async (t) => {
    // Each passthrough above made exactly one connection to the external host (count seen by it, +1 for this one).
    const r = JSON.parse((await curl(A, `http://${EXT}:9000/`)).body) as { connections: number };
    t.equal(r.connections, 3, 'the external host saw one connection per call: nothing was captured twice');
    t.equal(await metric(A, ADMIN_A, captured('loop')), 0, 'no loop so far');
    // Now exclude another UID: the agent's own connections are captured too.
    await redirect(ruleArgs(4242));
    const http = await curl(A, `http://${LOOPY}/`);
    if (mtls) t.ok(http.status >= 500, `a looping request fails (${http.status})`);
    else t.same([http.status, (JSON.parse(http.body) as { error: string }).error], [508, 'loop_detected'], 'HTTP: the hop count stops the loop with 508 loop_detected');
    const echoed = await tcp(A, ECHO, 7070, { SEND: 'ping\n', WAIT: '3000' });
    t.not(echoed.how, 'timeout', `TCP: the loop guard closes the connection (${echoed.how})`);
    t.ok(await metric(A, ADMIN_A, captured('loop')) >= 1, 'and counts a loop');
    t.match(outbound.output, /run the agent as the UID given to redirect-traffic --proxy-uid/, 'the log says what to fix');
    await redirect(ruleArgs(PROXY_UID));
    t.equal((await tcp(A, ECHO, 7070, { SEND: 'ping\n', UNTIL: 'ping\n' })).how, 'until', 'with the right UID it works again');
  });

  await t.test('(3b) policy block', async (t) => {
    await stop(outbound);
    outbound = spawnIn(A, outArgs('block'), dir, PROXY_UID);
    procs.push(outbound);
    await waitFor(outbound, 'admin listening', 'outbound agent (block)');
    const r = await curl(A, `http://${EXT}:9000/`);
    t.equal(r.status, 404, 'HTTP to a non-mesh destination is answered by the agent');
    t.match(r.body, /transparent.policy is block/, 'saying why');
    const closed = await tcp(A, EXT, 9001, { SEND: 'hi\n' });
    t.ok(closed.data === '' && ['end', 'ECONNRESET'].includes(closed.how), `TCP is closed (${closed.how})`);
    t.equal(await metric(A, ADMIN_A, captured('blocked')), 2, 'counted as blocked');
    t.match(outbound.output, /non-mesh destination blocked/, 'and logged');
    t.equal(JSON.parse((await curl(A, `http://${API}:8080/`)).body).app, 'api', 'mesh services still work');
  });

  await t.test('(4) --cleanup leaves the ruleset exactly as before', async (t) => {
    await redirect(['--cleanup', '--ipv6']); // --ipv6: the IPv6 rules too, as they were applied
    t.equal(normalise(await saveNat({ netns: `/var/run/netns/${A}` }, 4)), normalise(before[0]!), 'iptables-save -t nat');
    t.equal(normalise(await saveNat({ netns: `/var/run/netns/${A}` }, 6)), normalise(before[1]!), 'ip6tables-save -t nat');
    t.equal((await curl(A, `http://${API}:8080/`)).exit, 7, 'and nothing is captured any more');
  });
});

t.test('agent --transparent without the addon says what is needed; the flags map onto the config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aim-e2e-flags-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const registry = join(dir, 'registry.yaml');
  writeFileSync(registry, 'services: {}\n');
  const flags = ['--service', 'web', '--service-addr', '127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin-bind', '127.0.0.1:0',
    '--registry', registry, '--no-mtls', '--transparent', '--outbound-port', '15099', '--transparent-policy', 'block'];
  const cfg = configFromArgv(flags);
  t.same(cfg.transparent, { enabled: true, outbound_port: 15099, policy: 'block', catalog_watches: 32 });
  t.same(configFromArgv(flags.slice(0, -5)).transparent, { enabled: false, outbound_port: 15001, policy: 'passthrough', catalog_watches: 32 }, 'the defaults');
  const run = spawnSync(process.execPath, [CLI, 'agent', ...flags], { encoding: 'utf8', env: { ...process.env, AIM_MESH_ORIGDST_ADDON: join(dir, 'missing.node') }, timeout: 20_000 });
  t.equal(run.status, 1, 'the agent does not start');
  t.match(run.stderr, /transparent mode needs the orig-dst addon: run npm run build:native/, 'and names the command that builds the addon');
});
