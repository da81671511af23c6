/**
 * A byte-recording upstream for hardening tests: a plain TCP server that
 * keeps every byte it receives (so a test can assert that a hostile request
 * reached the app with 0 bytes), splits what it receives into HTTP/1
 * requests with a small parser of its own, and answers each with a scripted
 * reply — a well-formed response by default, or raw bytes and socket
 * behaviour no real server would produce:
 *
 *   ok(body)                     200 with Content-Length
 *   raw(bytes)                   exactly these bytes (CL+TE, bad status line...)
 *   resetAfterHeaders()          a 200 head, then a TCP RST
 *   stallMidBody(total, sent)    a head promising `total` bytes, `sent` of them, then silence
 *   closeAfterReply(reply)       the reply, then close the connection
 *
 * Replies are taken from a queue, one per request, then from the default.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface RecordedRequest {
  /** The request head (latin1), without the final CRLFCRLF. */
  readonly head: string;
  readonly body: Buffer;
  /** Index of the connection it arrived on. */
  readonly conn: number;
}

/** What to do with one request: write a reply on the socket (and maybe close it). */
export type Reply = (s: Socket, req: RecordedRequest) => void;

export const ok = (body = 'ok', extra = ''): Reply => (s) => {
  s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
};

export const raw = (bytes: string | Buffer): Reply => (s) => { s.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes); };

export const resetAfterHeaders = (): Reply => (s) => {
  s.write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n', () => setTimeout(() => s.resetAndDestroy(), 20));
};

export const stallMidBody = (total = 10_000, sent = 100): Reply => (s) => {
  s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${total}\r\n\r\n`);
  s.write(Buffer.alloc(sent, 97));
};

export const closeAfterReply = (r: Reply): Reply => (s, req) => { r(s, req); s.end(); };

/** Echo the request as JSON: its head lines and body size. */
export const echo = (): Reply => (s, req) => {
  const body = JSON.stringify({ head: req.head, bytes: req.body.length });
  s.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
};

export interface RecordingUpstream {
  readonly port: number;
  /** Every byte received, on any connection. */
  readonly bytes: number;
  /** Connections accepted. */
  readonly connections: number;
  /** Complete requests seen, in order. */
  readonly requests: RecordedRequest[];
  /** Everything received per connection (index = connection number). */
  readonly received: Buffer[];
  /** Open sockets now. */
  readonly sockets: ReadonlySet<Socket>;
  /** Replies for the next requests, one each, before falling back to the default. */
  queue(...replies: Reply[]): void;
  setDefault(r: Reply): void;
  /** Forget what was recorded (counters back to 0). */
  clear(): void;
  /** Close every open connection now (keep-alive race helper). */
  dropConnections(): void;
  close(): Promise<void>;
}

interface ConnState { buf: Buffer; index: number }

/** Split one HTTP/1 request from the front of buf: [request, bytes used], or undefined when incomplete. */
function takeRequest(buf: Buffer, conn: number): [RecordedRequest, number] | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = buf.toString('latin1', 0, end);
  const lower = head.toLowerCase();
  const start = end + 4;
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) {
    const parts: Buffer[] = [];
    let p = start;
    for (;;) {
      const eol = buf.indexOf('\r\n', p);
      if (eol === -1) return undefined;
      const size = parseInt(buf.toString('latin1', p, eol), 16);
      if (Number.isNaN(size)) return [{ head, body: buf.subarray(start), conn }, buf.length];
      if (size === 0) {
        const fin = buf.indexOf('\r\n\r\n', eol);
        if (fin === -1) return undefined;
        return [{ head, body: Buffer.concat(parts), conn }, fin + 4];
      }
      if (buf.length < eol + 2 + size + 2) return undefined;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      p = eol + 4 + size;
    }
  }
  const m = /\r\ncontent-length:\s*(\d+)/.exec(lower);
  const n = m ? Number(m[1]) : 0;
  if (buf.length < start + n) return undefined;
  return [{ head, body: buf.subarray(start, start + n), conn }, start + n];
}

export async function startRecordingUpstream(def: Reply = ok()): Promise<RecordingUpstream> {
  let bytes = 0;
  let connections = 0;
  let dflt = def;
  let q: Reply[] = [];
  const requests: RecordedRequest[] = [];
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: false }, (s) => {
    const st: ConnState = { buf: Buffer.alloc(0), index: connections++ };
    received[st.index] = Buffer.alloc(0);
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      received[st.index] = Buffer.concat([received[st.index]!, chunk]);
      st.buf = Buffer.concat([st.buf, chunk]);
      for (;;) {
        const r = takeRequest(st.buf, st.index);
        if (r === undefined) return;
        st.buf = st.buf.subarray(r[1]);
        requests.push(r[0]);
        const reply = q.length > 0 ? q.shift()! : dflt;
        if (!s.destroyed) reply(s, r[0]);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get bytes() { return bytes; },
    get connections() { return connections; },
    requests, received, sockets,
    queue(...r) { q.push(...r); },
    setDefault(r) { dflt = r; },
    clear() { bytes = 0; requests.length = 0; q = []; },
    dropConnections() { for (const s of sockets) s.destroy(); },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
