/**
 * The dashboard in a real browser: headless Chromium from Debian
 * (/usr/bin/chromium) driven by playwright-core. Simulated agents report a
 * small mesh over real mTLS gRPC; the page must render its services and edges
 * from the live WebSocket, and clicking a service must show its instances.
 * Saves test/artifacts/dashboard.png. Skips, saying why, without Chromium.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { chromium } from 'playwright-core';
import { edge, SimAgent, startTestCoordinator, upstream, waitFor } from '../unit/coordinator/support.ts';

const CHROMIUM = '/usr/bin/chromium';

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (flock /tmp/apt.lock apt-get install -y chromium)`;

t.test('the dashboard renders the mesh and a service detail', { skip }, async (t) => {
  const c = await startTestCoordinator(t, { alerts: { objectives: { payments: 0.995 } } });
  const agents = [
    new SimAgent(c, { service: 'web', instance: 'web-a', edges: [edge('api', 42, 0.999), edge('auth', 12, 1)], upstreams: [upstream('api', ['healthy', 'healthy']), upstream('auth', ['healthy'])] }),
    new SimAgent(c, { service: 'web', instance: 'web-b', edges: [edge('api', 38, 0.998), edge('auth', 10, 1)], upstreams: [upstream('api', ['healthy', 'healthy']), upstream('auth', ['healthy'])] }),
    new SimAgent(c, { service: 'api', instance: 'api-a', version: 'v2', edges: [edge('payments', 20, 0.93, { retries: 14, retryBudgetRemaining: 0.3 }), edge('db', 60, 1, { mtls: false })], upstreams: [upstream('payments', ['healthy', 'breaker_open', 'ejected']), upstream('db', ['healthy'])] }),
    new SimAgent(c, { service: 'api', instance: 'api-b', version: 'v2', edges: [edge('payments', 18, 0.95), edge('db', 55, 1, { mtls: false })], upstreams: [upstream('payments', ['healthy', 'breaker_open', 'ejected']), upstream('db', ['healthy'])] }),
    new SimAgent(c, { service: 'auth', instance: 'auth-a', edges: [edge('web', 1.5, 1)], upstreams: [upstream('web', ['healthy'])] }),
    new SimAgent(c, { service: 'payments', instance: 'payments-a', inbound: { requests: 190, rps: 38, successRate: 0.94, p50Ms: 12, p99Ms: 180 } }),
  ];
  for (const a of agents) a.start(t);
  await waitFor('six agents in the view', () => c.state.view().totals.agents === 6);

  const profile = await mkdtemp(join(tmpdir(), 'aim-mesh-chromium-'));
  t.teardown(() => rm(profile, { recursive: true, force: true }));
  // A fresh --user-data-dir: Playwright takes it as the persistent-context directory.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1500, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => context.close());
  const page = context.pages()[0] ?? await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${c.httpUrl}/`);

  await page.locator('#conn.conn-up').waitFor({ timeout: 10_000 });
  for (const s of ['web', 'api', 'auth', 'payments', 'db']) {
    await page.locator(`g.node[data-service="${s}"]`).waitFor({ timeout: 10_000 });
  }
  for (const e of ['web>api', 'web>auth', 'api>payments', 'api>db', 'auth>web']) {
    t.equal(await page.locator(`path.edge[data-edge="${e}"]`).count(), 1, `edge ${e} drawn`);
  }
  t.match(await page.locator('[data-edge-label="web>api"]').textContent(), /80\.0 rps/, 'edge label shows rolled-up rps');
  t.match(await page.locator('[data-edge-label="api>payments"]').textContent(), /BRK 1.*EJ 1.*RB 30%/, 'breaker, ejection and retry budget markers');
  t.match(await page.locator('[data-edge-label="api>db"]').textContent(), /plain/, 'plaintext edge marked');
  t.equal(await page.locator('path.edge.bad[data-edge="api>payments"]').count(), 1, 'failing edge coloured bad');
  t.equal(await page.locator('path.edge.ok[data-edge="web>api"]').count(), 1, 'healthy edge coloured ok');
  await waitFor('alerts listed', async () => (await page.locator('#alerts li[data-alert="slo_breach"]').count()) > 0);

  await page.locator('g.node[data-service="api"]').click();
  await page.locator('#detail tr.instance[data-agent="api-a"]').waitFor({ timeout: 10_000 });
  t.equal(await page.locator('#detail tr.instance').count(), 2, 'both api instances listed');
  t.match(await page.locator('#detail').textContent(), /payments 127\.0\.0\.1:21001 breaker open, 127\.0\.0\.1:21002 ejected/, 'instance endpoint states shown');

  await mkdir('test/artifacts', { recursive: true });
  await page.screenshot({ path: 'test/artifacts/dashboard.png' });
  t.same(errors, [], 'no page errors');
});
