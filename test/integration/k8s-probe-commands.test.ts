/**
 * The exec commands the injector puts into the pod (startupProbe on /ready,
 * preStop POST /drain) and the image's HEALTHCHECK, run for real with node
 * against an HTTP server standing in for the agent's admin API. Exit code 0
 * means healthy to the kubelet and to Docker.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { adminCall, proxyLifecycle, startupProbe } from '../../src/k8s/lifecycle.ts';

function run(argv: string[], env: Record<string, string> = {}): Promise<number> {
  const [, ...args] = argv;
  return new Promise((resolve) => {
    // argv[0] is `node` in the pod; here the same Node that runs the tests.
    execFile(process.execPath, args, { env: { ...process.env, ...env }, timeout: 10_000 }, (err) => {
      resolve(err ? (typeof err.code === 'number' ? err.code : 1) : 0);
    });
  });
}

t.test('startupProbe and preStop commands speak to the admin API', async (t) => {
  const seen: string[] = [];
  let ready = 503;
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.statusCode = req.url === '/ready' ? ready : req.url === '/drain' && req.method === 'POST' ? 202 : 405;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;

  const probe = startupProbe(port).exec!.command!;
  t.equal(probe[0], 'node');
  t.equal(await run(probe), 1, 'not ready yet: probe fails');
  ready = 200;
  t.equal(await run(probe), 0, 'ready: probe passes');
  t.equal(await run(proxyLifecycle(port).preStop!.exec!.command!), 0, 'drain accepted');
  t.same(seen, ['GET /ready', 'GET /ready', 'POST /drain']);
  t.equal(await run(adminCall(port, 'GET', '/drain')), 1, 'a non-2xx answer is a failure');
});

t.test('a stopped agent fails the probe quickly', async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  t.equal(await run(startupProbe(port).exec!.command!), 1);
});

t.test("the image's HEALTHCHECK command", async (t) => {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const cmd = /HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])/.exec(dockerfile)?.[1];
  t.ok(cmd, 'found the HEALTHCHECK CMD');
  const argv = JSON.parse(cmd!) as string[];
  let status = 200;
  const server = createServer((req, res) => { res.statusCode = req.url === '/ready' ? status : 404; res.end(); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`;
  t.equal(await run(argv, { AIM_MESH_HEALTH_URL: url }), 0);
  status = 503;
  t.equal(await run(argv, { AIM_MESH_HEALTH_URL: url }), 1);
});
