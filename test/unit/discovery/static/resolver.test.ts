/**
 * The static resolver keeps only what the agent uses: the endpoint sets of watched
 * services and a hash of the file, not the file's text or its whole parse (memory
 * flat in the mesh size). Services watched later are read from the file on demand;
 * reloads still update watched services; a bad edit is rejected and the last good
 * version kept; transparent mode's index (keepRegistry / onRegistry) still gets
 * the whole registry.
 */
import t from 'tap';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { StaticResolver } from '../../../../src/discovery/static/resolver.ts';
import type { EndpointSetUpdate } from '../../../../src/discovery/types.ts';
import { feedCaptureIndex } from '../../../../src/transparent/index-feed.ts';
import { resolveCaptured } from '../../../../src/transparent/capture.ts';
import { silentLogger, type Logger } from '../../../../src/telemetry/log.ts';

/** A registry of `n` services svc-0..svc-(n-1), each with instance 10.0.<i>.<port-8000> on `port`. */
function registry(n: number, port = 8001, extra = ''): string {
  const lines = ['services:'];
  for (let i = 0; i < n; i++) lines.push(`  svc-${i}:`, '    instances:', `      - { address: 10.0.${i}.1, port: ${port}, tags: [v1] }`);
  return `${lines.join('\n')}\n${extra}`;
}

function tempFile(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'aim-static-')), 'registry.yaml');
  writeFileSync(f, text);
  return f;
}

/** Replace the file as editors do (rename), so the directory watch sees it. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Watch `service` and collect its updates. */
function collect(r: StaticResolver, service: string, t: { teardown(fn: () => void): void }) {
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const updates: EndpointSetUpdate[] = [];
  const it = r.watch(service, ac.signal);
  void (async () => { for await (const u of it) updates.push(u); })();
  return {
    updates,
    abort: () => ac.abort(),
    async next(pred: (u: EndpointSetUpdate) => boolean, ms = 5000): Promise<EndpointSetUpdate | undefined> {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const u = updates.findLast(pred);
        if (u) return u;
        await new Promise((res) => setTimeout(res, 10));
      }
      return undefined;
    },
  };
}

const ports = (u: EndpointSetUpdate | undefined): number[] => (u?.endpoints ?? []).map((e) => e.port);

t.test('only the watched services are kept after a load; the whole parse is gone after the loading tick', async (t) => {
  const file = tempFile(registry(200));
  const r = new StaticResolver({ file, pollMs: 0, log: silentLogger });
  t.teardown(() => r.close());
  const api = collect(r, 'svc-1', t);
  t.ok(await api.next((u) => u.endpoints.length === 1), 'the watch right after construction gets its set');
  t.same(api.updates[0]!.endpoints[0], { address: '10.0.1.1', port: 8001, weight: 1, tags: ['v1'], health: 'passing', identity: undefined, meta: undefined, datacenter: undefined });
  await tick();
  t.same(r.retained(), { services: ['svc-1'], wholeRegistry: false, registryServices: 200 }, 'one set of 200 services kept, not the registry');

  api.abort();
  await tick();
  t.same(r.retained().services, [], 'a watch that ends drops its set');
});

t.test('a service first watched later is read from the file on demand; the parse is not kept', async (t) => {
  const file = tempFile(registry(50));
  const r = new StaticResolver({ file, pollMs: 0, debounceMs: 10_000, log: silentLogger });
  t.teardown(() => r.close());
  collect(r, 'svc-0', t);
  await tick();
  t.equal(r.retained().wholeRegistry, false);
  const later = collect(r, 'svc-42', t);
  const u = await later.next(() => true);
  t.same(u?.endpoints.map((e) => e.address), ['10.0.42.1'], 'svc-42 gets its endpoints');
  t.equal(r.reloads, 0, 'the unchanged file is not counted as a reload');
  await tick();
  t.same(r.retained(), { services: ['svc-0', 'svc-42'], wholeRegistry: false, registryServices: 50 });
  t.same(ports(await collect(r, 'nope', t).next(() => true)), [], 'a service not in the registry: an empty set, as before');
});

t.test('a later watch after an unnoticed edit loads the edit first: every watched service is updated', async (t) => {
  const file = tempFile(registry(5));
  // No fs.watch event is awaited (long debounce, no poll): the later watch itself finds the file changed.
  const r = new StaticResolver({ file, pollMs: 0, debounceMs: 60_000, log: silentLogger });
  t.teardown(() => r.close());
  const first = collect(r, 'svc-0', t);
  await first.next(() => true);
  await tick();
  writeFileSync(file, registry(6, 9002));
  const later = collect(r, 'svc-5', t);
  t.same(ports(await later.next(() => true)), [9002], 'the new service, from the edited file');
  t.same(ports(await first.next((u) => ports(u)[0] === 9002)), [9002], 'the service watched before got the edit too');
  t.equal(r.reloads, 1);
  t.equal(r.retained().registryServices, 6);
});

t.test('reloads update watched services; a bad edit is rejected (file, key, expectation) and the last good set kept', async (t) => {
  const file = tempFile(registry(20));
  const logs: Array<{ level: string; obj: Record<string, unknown> }> = [];
  const log = { ...silentLogger } as Logger;
  for (const level of ['error', 'warn', 'info'] as const) (log as unknown as Record<string, unknown>)[level] = (obj: Record<string, unknown>) => { logs.push({ level, obj }); };
  (log as unknown as Record<string, unknown>).child = () => log;
  const r = new StaticResolver({ file, pollMs: 50, debounceMs: 10, log });
  t.teardown(() => r.close());
  const api = collect(r, 'svc-3', t);
  await api.next(() => true);

  replace(file, registry(20, 9003));
  t.same(ports(await api.next((u) => ports(u)[0] === 9003)), [9003], 'the edit reaches the watched service');
  t.equal(r.reloads, 1);

  replace(file, registry(20, 9004).replace('port: 9004', 'port: "nope"'));
  const deadline = Date.now() + 5000;
  while (r.rejectedReloads === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  t.equal(r.rejectedReloads, 1, 'the bad edit is rejected once (not re-logged on every poll)');
  const rejected = logs.find((l) => l.obj.reason === 'registry_rejected');
  t.match(String(rejected?.obj.detail), /registry\.yaml:\d+: services\.svc-0\.instances\[0\]\.port: expected number/, 'the log names file, line, key and expectation');
  await new Promise((res) => setTimeout(res, 200));
  t.equal(r.rejectedReloads, 1);
  t.same(ports(api.updates.at(-1)), [9003], 'the watched service keeps its last good set');
  t.equal(r.status('svc-3').synced, true);
  t.match(r.status('svc-3').lastError, /expected number/, 'status() reports the rejection');

  // Unwatched services were not kept: one first watched while the file is bad has no set until the file is fixed.
  const late = collect(r, 'svc-7', t);
  await new Promise((res) => setTimeout(res, 100));
  t.equal(late.updates.length, 0, 'svc-7 was not retained: nothing to yield from a rejected file');
  t.equal(r.status('svc-7').synced, false);
  t.match(r.status('svc-7').lastError, /rejected edit/);

  replace(file, registry(20, 9005));
  t.same(ports(await late.next(() => true)), [9005], 'the next accepted edit brings svc-7');
  t.same(ports(await api.next((u) => ports(u)[0] === 9005)), [9005]);
  t.equal(r.status('svc-7').synced, true);
  t.equal(r.status('svc-7').lastError, undefined);
  t.equal(r.reloads, 2);
});

t.test('transparent mode: keepRegistry keeps the whole registry, and the capture index maps every service across reloads', async (t) => {
  const file = tempFile(registry(30));
  const r = new StaticResolver({ file, pollMs: 50, debounceMs: 10, log: silentLogger, keepRegistry: true });
  t.teardown(() => r.close());
  await tick();
  t.equal(r.retained().wholeRegistry, true);
  t.equal(Object.keys(r.registry.services).length, 30);
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const feed = feedCaptureIndex(r, [], 'passthrough', ac.signal, silentLogger);
  t.same(resolveCaptured({ address: '10.0.29.1', port: 8001 }, undefined, feed.current()), { kind: 'service', service: 'svc-29', by: 'endpoint' }, 'an unwatched service is in the index');
  replace(file, registry(31));
  const deadline = Date.now() + 5000;
  while (resolveCaptured({ address: '10.0.30.1', port: 8001 }, undefined, feed.current()).kind !== 'service' && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  t.same(resolveCaptured({ address: '10.0.30.1', port: 8001 }, undefined, feed.current()), { kind: 'service', service: 'svc-30', by: 'endpoint' }, 'a service added by a reload is mapped');
});

t.test('without keepRegistry, the index feed still gets the whole registry (re-read from the file) and keeps it from then on', async (t) => {
  const file = tempFile(registry(10));
  const r = new StaticResolver({ file, pollMs: 0, log: silentLogger });
  t.teardown(() => r.close());
  await tick();
  t.equal(r.retained().wholeRegistry, false);
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const feed = feedCaptureIndex(r, [], 'passthrough', ac.signal, silentLogger);
  t.same(resolveCaptured({ address: '10.0.9.1', port: 8001 }, undefined, feed.current()), { kind: 'service', service: 'svc-9', by: 'endpoint' });
  await tick();
  t.equal(r.retained().wholeRegistry, true, 'kept once someone asked for it');
});
