/**
 * Real upstream servers for tests, each on 127.0.0.1 port 0 with counters:
 * an HTTP echo server (node:http) and a TCP echo server (Consul's
 * TestTCPServer in spirit). Tests compose these instead of mocks.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';

export interface HttpUpstream {
  readonly port: number;
  readonly server: HttpServer;
  /** Requests seen. */
  requests: number;
  /** Distinct client connections seen. */
  connections: number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Default handler: answers JSON with method, url, headers and the body's byte count. */
export const echoHandler: Handler = (req, res) => {
  let n = 0;
  req.on('data', (c: Buffer) => { n += c.length; });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bytes: n, httpVersion: req.httpVersion }));
  });
};

export async function startHttpUpstream(handler: Handler = echoHandler): Promise<HttpUpstream> {
  const server = createHttpServer({ keepAliveTimeout: 30_000 });
  const u: HttpUpstream = {
    port: 0, server, requests: 0, connections: 0,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  server.on('connection', () => { u.connections++; });
  server.on('request', (req, res) => { u.requests++; handler(req, res); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  (u as { port: number }).port = (server.address() as { port: number }).port;
  return u;
}

export interface TcpEcho {
  readonly port: number;
  accepted: number;
  active: number;
  closed: number;
  close(): Promise<void>;
}

/** An echo server that supports half-close: after the client's FIN it finishes echoing, then ends. */
export async function startTcpEcho(): Promise<TcpEcho> {
  const sockets = new Set<Socket>();
  const e = { port: 0, accepted: 0, active: 0, closed: 0 } as TcpEcho;
  const server: NetServer = createNetServer({ allowHalfOpen: true }, (s) => {
    e.accepted++; e.active++;
    sockets.add(s);
    s.on('data', (b) => s.write(b));
    s.on('end', () => s.end());
    s.on('error', () => {});
    s.on('close', () => { e.active--; e.closed++; sockets.delete(s); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  (e as { port: number }).port = (server.address() as { port: number }).port;
  e.close = () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); });
  return e;
}
