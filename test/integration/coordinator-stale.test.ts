/**
 * The stale-agent rule over real streams: an agent process killed with
 * SIGKILL (no goodbye, the kernel resets its connection) turns stale after 3
 * missed intervals and is removed after a longer absence, while an agent that
 * keeps reporting stays up.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { request } from 'undici';
import { SimAgent, startTestCoordinator, waitFor } from '../unit/coordinator/support.ts';

t.test('a killed agent goes stale, then is removed', async (t) => {
  const intervalMs = 200;
  const c = await startTestCoordinator(t, { liveness: { staleAfterIntervals: 3, removeAfterIntervals: 8 } });
  new SimAgent(c, { service: 'web', instance: 'web-1', intervalMs }).start(t);
  const leaf = c.issueLeaf('api');
  const child = spawn(process.execPath, [
    new URL('../unit/coordinator/agent-process.ts', import.meta.url).pathname,
    JSON.stringify({ target: c.grpcTarget, coordinatorId: c.spiffeId, rootsPem: c.rootsPem, keyPem: leaf.keyPem, certPem: leaf.certPem, service: 'api', instance: 'api-1', intervalMs }),
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d) => { out += String(d); });
  await waitFor('the agent process to connect', () => out.includes('connected'));

  const status = (): string | undefined => c.state.view().instances.get('api')?.find((i) => i.agentId === 'api-1')?.status;
  await waitFor('api-1 up in the view', () => status() === 'up');

  child.kill('SIGKILL');
  await once(child, 'exit');
  const lastSeen = c.state.localRecords().find((r) => r.agentId === 'api-1')!.lastSeenMs;
  await waitFor('api-1 stale', () => status() === 'stale');
  const staleAfter = Date.now() - lastSeen;
  t.ok(staleAfter > 3 * intervalMs, `stale only after 3 missed intervals (${staleAfter} ms after its last report)`);
  const alerts = c.state.view().alerts;
  t.ok(alerts.some((a) => a.kind === 'agent_stale' && a.agentId === 'api-1'), 'stale agent alert');
  const svc = c.state.view().services.find((s) => s.name === 'api')!;
  t.match(svc, { instances: 1, up: 0, stale: 1 });
  t.equal(c.state.view().instances.get('web')?.[0]?.status, 'up', 'the live agent stays up');

  await waitFor('api-1 removed', () => status() === undefined && !c.state.view().services.some((s) => s.name === 'api'));
  t.ok(Date.now() - lastSeen > 8 * intervalMs, 'removed only after the longer absence');
  t.equal((await request(`${c.httpUrl}/api/v1/agents/api-1`)).statusCode, 404);
  t.equal(c.state.view().totals.agents, 1);
  t.notOk(c.state.view().alerts.some((a) => a.agentId === 'api-1'), 'its alert is gone with it');
});
