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

/** web: GET / calls `upstreamPort` (the agent's local port for api) and returns both answers. */
export async function startWeb(name: string, port: number, upstreamPort: number): Promise<SampleApp> {
  const server = createServer((req, res) => {
    req.resume();
    const rid = req.headers['x-request-id'];
    const headers: Record<string, string> = typeof rid === 'string' ? { 'x-request-id': rid } : {};
    const up = httpRequest({ host: '127.0.0.1', port: upstreamPort, path: req.url, headers }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => { body += c; });
      r.on('end', () => {
        res.writeHead(r.statusCode === 200 ? 200 : 502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ service: name, upstream_status: r.statusCode, upstream_error: r.headers['x-aim-mesh-error'] ?? null, upstream: safeJson(body) }));
      });
    });
    up.on('error', (e) => { res.writeHead(502); res.end(JSON.stringify({ service: name, error: e.message })); });
    up.end();
  });
  return { name, port: await listen(server, port), server };
}

function safeJson(s: string): unknown {
  try { return JSON.parse(s); } catch { return s; }
}
