/**
 * SIGKILL of a process that registered through createConsulDiscovery: nobody
 * deregisters, the TTL checks stop being refreshed, expire (critical, "TTL
 * expired"), and Consul's reaper removes both services after
 * DeregisterCriticalServiceAfter. The child is a real node process killed
 * with a real SIGKILL.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startConsulTestServer } from '../support/consul/index.ts';
import { sleep } from '../support/consul/testing.ts';

const src = (p: string): string => pathToFileURL(join(import.meta.dirname, '../../src/discovery/consul', p)).href;

t.test('SIGKILL: TTL checks expire and the services are deregistered after the configured time', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, reapIntervalMs: 100, deregisterMinMs: 0, checkUpdateIntervalMs: 0 });
  t.teardown(() => consul.close());
  const dir = mkdtempSync(join(tmpdir(), 'aim-consul-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'agent.ts');
  writeFileSync(script, `
import { createConsulDiscovery } from '${src('index.ts')}';
import { consulSectionSchema } from '${src('options.ts')}';
const d = createConsulDiscovery({
  consul: consulSectionSchema.parse({ address: process.argv[2], check: { interval: '200ms', ttl: '800ms', deregister_critical_after: '1s', probe: { kind: 'none', timeout: '100ms' } } }),
  registration: {
    service: { name: 'web', id: 'web-k', address: '127.0.0.1', port: 8080, tags: [], meta: {}, weight: 1, warningWeight: 1 },
    proxy: { address: '127.0.0.1', port: 21000, upstreams: [] },
  },
  probe: async () => ({ status: 'passing', output: 'ok' }),
});
await d.registration.start();
process.stdout.write('registered\\n');
setInterval(() => {}, 1000);
`);
  const child = spawn(process.execPath, [script, consul.url], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('registered')) resolve(); });
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  await sleep(500);
  t.equal(consul.catalog.connect('web')[0]?.status, 'passing');
  const killedAt = Date.now();
  child.kill('SIGKILL');
  let criticalAt = 0;
  let goneAt = 0;
  while (Date.now() - killedAt < 6000) {
    const inst = consul.catalog.instances('web');
    if (!criticalAt && inst[0]?.status === 'critical') criticalAt = Date.now();
    if (inst.length === 0 && consul.catalog.connect('web').length === 0) { goneAt = Date.now(); break; }
    await sleep(25);
  }
  t.ok(criticalAt > 0, 'the TTL check expired');
  t.ok(criticalAt - killedAt <= 800 + 300, `critical ${criticalAt - killedAt}ms after the kill (TTL 800ms)`);
  t.ok(goneAt > 0, 'both services deregistered by Consul');
  t.ok(goneAt - criticalAt >= 900, `removed ${goneAt - criticalAt}ms after going critical (deregister_critical_after 1s)`);
});
