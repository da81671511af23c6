/** Issue 2, test 8: the static registry is watched; edits add and remove endpoints; a bad edit keeps the last good set. */
import t from 'tap';
import { writeFileSync, renameSync } from 'node:fs';
import { request } from 'undici';
import { startHttpUpstream } from '../support/upstreams.ts';
import { tempRegistry } from '../support/mesh.ts';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent } from '../../src/agent/run.ts';
import { silentLogger } from '../../src/telemetry/log.ts';

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return true; await new Promise((r) => setTimeout(r, 25)); }
  return false;
}

t.test('registry hot reload adds and removes an endpoint; a bad edit is rejected', async (t) => {
  const a = await startHttpUpstream((_q, s) => s.end('A'));
  const b = await startHttpUpstream((_q, s) => s.end('B'));
  const reg = tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${a.port} }\n`);
  const agent = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' }, inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', lb: 'round_robin' }], discovery: { registry: reg }, admin: { bind: '127.0.0.1:0' }, drain_timeout: '1s',
  }), { log: silentLogger });
  t.teardown(async () => { await agent.stop(); await a.close(); await b.close(); });
  const port = agent.agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  const hit = async (): Promise<string> => (await request(`http://127.0.0.1:${port}/`)).body.text();
  const seen = async (n: number): Promise<Set<string>> => { const s = new Set<string>(); for (let i = 0; i < n; i++) s.add(await hit()); return s; };

  t.same([...await seen(4)], ['A'], 'only A at first');
  // Editors replace files by rename: do the same.
  writeFileSync(`${reg}.tmp`, `services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${a.port} }\n      - { address: 127.0.0.1, port: ${b.port}, weight: 2, tags: [v2] }\n`);
  renameSync(`${reg}.tmp`, reg);
  t.ok(await until(async () => (await seen(4)).size === 2), 'B added: both answer');

  writeFileSync(reg, 'services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: "not a port" }\n');
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await seen(6)).size, 2, 'bad edit rejected: the last good set is kept');

  writeFileSync(reg, `services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${b.port} }\n`);
  t.ok(await until(async () => { const s = await seen(4); return s.size === 1 && s.has('B'); }), 'A removed: only B answers');
});
