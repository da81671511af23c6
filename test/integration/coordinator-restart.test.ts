/**
 * Soft state: the coordinator keeps nothing on disk but its CA. After a
 * restart on the same address, the agents (never restarted) reconnect and
 * resend their snapshots, and the full view is back within two report
 * intervals of the new coordinator listening.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startCoordinator } from '../../src/coordinator/coordinator.ts';
import type { CoordinatorInput } from '../../src/coordinator/options.ts';
import { edge, SimAgent, sleep, upstream, waitFor } from '../unit/coordinator/support.ts';

t.test('after a coordinator restart the view recovers', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aim-mesh-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const intervalMs = 1000;
  const base: CoordinatorInput = { caDir: dir, http: { host: '127.0.0.1', port: 0 }, minPublishIntervalMs: 50, sweepIntervalMs: 50 };
  const first = await startCoordinator({ ...base, grpc: { host: '127.0.0.1', port: 0 } });
  let firstClosed = false;
  t.teardown(() => (firstClosed ? undefined : first.close()));
  t.equal((await stat(join(dir, 'ca-key.pem'))).mode & 0o777, 0o600, 'the CA key is private');

  const agents = [
    new SimAgent(first, { service: 'web', instance: 'web-1', intervalMs, edges: [edge('api', 20, 1)], upstreams: [upstream('api', ['healthy', 'ejected'])] }),
    new SimAgent(first, { service: 'web', instance: 'web-2', intervalMs, edges: [edge('api', 10, 1)], upstreams: [upstream('api', ['healthy', 'healthy'])] }),
    new SimAgent(first, { service: 'api', instance: 'api-1', intervalMs }),
    new SimAgent(first, { service: 'auth', instance: 'auth-1', intervalMs }),
  ];
  for (const a of agents) a.start(t);
  await waitFor('four agents', () => first.state.view().totals.agents === 4);
  const before = first.state.view();

  const port = first.grpcPort;
  await first.close();
  firstClosed = true;
  await sleep(300);
  t.ok(agents.every((a) => a.reporter.status().state !== 'connected'), 'agents noticed the coordinator went away');

  const second = await startCoordinator({ ...base, grpc: { host: '127.0.0.1', port } });
  t.teardown(() => second.close());
  const listeningAt = Date.now();
  t.equal(second.rootsPem[0], first.rootsPem[0], 'same CA from --ca-dir');
  await waitFor('the full view back', () => second.state.view().totals.agents === 4, 4 * intervalMs);
  const recovery = Date.now() - listeningAt;
  t.ok(recovery <= 2 * intervalMs, `view back within two report intervals (${recovery} ms)`);

  const after = second.state.view();
  t.same(after.services.map((s) => [s.name, s.instances]), before.services.map((s) => [s.name, s.instances]));
  t.same(after.edges.map((e) => [e.source, e.destination, e.ejected, e.endpoints]), before.edges.map((e) => [e.source, e.destination, e.ejected, e.endpoints]));
  t.equal(after.edges[0]!.metrics!.rps, 30, 'metrics back too');
  t.ok(after.alerts.some((a) => a.kind === 'endpoint_ejected'), 'alerts rebuilt');
  // An agent counts a connection at the coordinator's first directive, which can land just after
  // its report made the view whole: wait for the counts, then check none went past 2.
  await waitFor('every agent counted its reconnection', () => agents.every((a) => a.reporter.status().connects >= 2), 2 * intervalMs);
  t.ok(agents.every((a) => a.reporter.status().connects === 2), `every agent reconnected once, none restarted (connects: ${agents.map((a) => a.reporter.status().connects).join(', ')})`);
});
