/**
 * The demo's sample services: small real HTTP apps that know nothing of the
 * mesh except the local port of their upstream.
 *
 *   api   answers JSON; fails with 503 on a configurable fraction of requests
 *         (so breakers and retries have something to show).
 *   web   calls api through its agent's local upstream port and wraps the answer.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';

export interface SampleApp { readonly name: string; readonly port: number; readonly server: Server; }

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

export async function startApi(name: string, port: number, failRate = 0): Promise<SampleApp> {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    req.resume();
    if (failRate > 0 && Math.random() < failRate) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ service: name, error: 'simulated failure' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ service: name, request: n, path: req.url, caller: req.headers['x-aim-mesh-peer-identity'] ?? null, request_id: req.headers['x-request-id'] ?? null }));
  });
  return { name, port: await listen(server, port), server };
}

/** web: GET / calls each upstream through its agent's local port and returns all answers. */
export async function startWeb(name: string, port: number, upstreams: ReadonlyArray<{ name: string; port: number }>): Promise<SampleApp> {
  const call = (upstreamPort: number, path: string, rid: string | undefined): Promise<{ status: number; error: unknown; body: unknown }> =>
    new Promise((resolve) => {
      const headers: Record<string, string> = rid !== undefined ? { 'x-request-id': rid } : {};
      const up = httpRequest({ host: '127.0.0.1', port: upstreamPort, path, headers }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => { body += c; });
        r.on('end', () => resolve({ status: r.statusCode ?? 0, error: r.headers['x-aim-mesh-error'] ?? null, body: safeJson(body) }));
      });
      up.on('error', (e) => resolve({ status: 0, error: e.message, body: null }));
      up.end();
    });
  const server = createServer((req, res) => {
    req.resume();
    const rid = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : undefined;
    void Promise.all(upstreams.map((u) => call(u.port, req.url ?? '/', rid))).then((answers) => {
      const ok = answers.every((a) => a.status === 200);
      res.writeHead(ok ? 200 : 502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ service: name, upstreams: Object.fromEntries(upstreams.map((u, i) => [u.name, answers[i]])) }));
    });
  });
  return { name, port: await listen(server, port), server };
}

function safeJson(s: string): unknown {
  try { return JSON.parse(s); } catch { return s; }
}
