/**
 * Issue 7, test 5: /ready flips during startup and during drain.
 *
 * Startup: the admin server is up before the agent starts (as run.ts does),
 * so /ready first says the listeners are not bound; then that discovery has
 * not synced (the registry is real, but its first answer is held back by a
 * gate in front of the static resolver); then 200.
 * Drain: POST /drain turns /ready to 503 at once while an in-flight request
 * still completes; /healthcheck/fail and /ok flip it too.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { configFromObject } from '../../src/config/load.ts';
import { Agent } from '../../src/agent/agent.ts';
import { createAdminServer } from '../../src/admin/server.ts';
import { StaticResolver } from '../../src/discovery/static/resolver.ts';
import type { EndpointSetUpdate, Resolver, WatchStatus } from '../../src/discovery/types.ts';
import { tempRegistry } from '../support/mesh.ts';
import { startHttpUpstream } from '../support/upstreams.ts';

const quietLog = (): pino.Logger => pino({ level: 'info' }, new Writable({ write(_c, _e, cb) { cb(); } }));

/** The static resolver, with its first answer held until `open()`. */
class GatedResolver implements Resolver {
  readonly kind = 'static';
  readonly #inner: StaticResolver;
  readonly #gate: Promise<void>;
  open!: () => void;
  constructor(inner: StaticResolver) {
    this.#inner = inner;
    this.#gate = new Promise((r) => { this.open = r; });
  }
  async *watch(service: string, signal: AbortSignal): AsyncIterable<EndpointSetUpdate> {
    await this.#gate;
    yield* this.#inner.watch(service, signal);
  }
  status(service: string): WatchStatus { return this.#inner.status(service); }
  close(): Promise<void> { this.open(); return this.#inner.close(); }
}

async function ready(base: string): Promise<{ status: number; body: { ready: boolean; missing?: string[] } }> {
  const r = await request(`${base}/ready`);
  return { status: r.statusCode, body: await r.body.json() as { ready: boolean; missing?: string[] } };
}

t.test('/ready during startup and drain', async (t) => {
  const app = await startHttpUpstream((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), 600);
    else res.end('ok');
  });
  t.teardown(() => app.close());
  const reg = tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${app.port} }\n`);
  const config = configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0' }],
    discovery: { kind: 'static', registry: reg },
    admin: { bind: '127.0.0.1:0' },
    drain_timeout: '5s',
  }, 'test');
  const log = quietLog();
  const resolver = new GatedResolver(new StaticResolver({ file: reg, log }));
  const agent = new Agent(config, { log, resolver });
  const admin = createAdminServer({ agent, quit: () => {} }, undefined, log);
  await new Promise<void>((r) => admin.listen(0, '127.0.0.1', () => r()));
  t.teardown(async () => { await agent.drain(); await new Promise((r) => admin.close(r)); });
  const base = `http://127.0.0.1:${(admin.address() as { port: number }).port}`;

  let r = await ready(base);
  t.equal(r.status, 503, 'before start');
  t.same(r.body, { ready: false, missing: ['listeners not bound'] });

  await agent.start();
  r = await ready(base);
  t.equal(r.status, 503, 'listeners bound, discovery not synced');
  t.same(r.body.missing, ['discovery has not synced upstream api']);

  resolver.open();
  for (let i = 0; i < 100 && (r = await ready(base)).status !== 200; i++) await new Promise((res) => setTimeout(res, 10));
  t.equal(r.status, 200, 'ready once discovery synced');
  t.same(r.body, { ready: true });

  // Fail health checks on purpose, then undo it.
  await (await request(`${base}/healthcheck/fail`, { method: 'POST' })).body.dump();
  r = await ready(base);
  t.equal(r.status, 503);
  t.same(r.body.missing, ['healthcheck failed (POST /healthcheck/ok clears it)']);
  await (await request(`${base}/healthcheck/ok`, { method: 'POST' })).body.dump();
  t.equal((await ready(base)).status, 200);

  // Drain with a request in flight: /ready is 503 at once; the request still completes.
  const port = agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  const slow = request(`http://127.0.0.1:${port}/slow`);
  await new Promise((res) => setTimeout(res, 150));
  const d = await request(`${base}/drain`, { method: 'POST' });
  t.equal(d.statusCode, 202);
  await d.body.dump();
  r = await ready(base);
  t.equal(r.status, 503, 'draining');
  t.same(r.body.missing, ['draining']);
  const info = await (await request(`${base}/server_info`)).body.json() as { state: string };
  t.equal(info.state, 'draining');
  const s = await slow;
  t.equal(await s.body.text(), 'slow done', 'the in-flight request completed during the drain');
  t.equal((await ready(base)).status, 503, 'still not ready after the drain');
});
