/**
 * A raw-socket HTTP/1 client for hardening tests: it sends exactly the bytes
 * a test gives it (hostile ones included: no client library would send them)
 * and reads exactly what comes back, with its own small response parser
 * (independent of the agent's), so a test can assert the status, each
 * header, the body and whether the server closed the connection.
 *
 *   const c = await RawConnection.open(port);
 *   c.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
 *   const r = await c.response();          // one complete response
 *   t.ok(await c.closed(500));             // closed by the server within 500 ms?
 *
 * `rawExchange(port, bytes)` is the one-shot form.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly statusText: string;
  /** Lower-case names; a repeated field keeps every value, in order. */
  readonly headers: Record<string, string[]>;
  readonly body: Buffer;
  /** The response head as received (latin1), without the final CRLFCRLF. */
  readonly head: string;
  /** Every byte of this response as received. */
  readonly raw: Buffer;
}

/** The first value of a header (lower-case name), or undefined. */
export function header(r: RawResponse, name: string): string | undefined {
  return r.headers[name]?.[0];
}

export class RawConnection {
  readonly sock: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;
  #closedFlag = false;
  /** The socket error that closed the connection (ECONNRESET when the server reset it). */
  error: NodeJS.ErrnoException | undefined;
  #wake: Array<() => void> = [];

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.on('data', (b: Buffer) => { this.#buf = Buffer.concat([this.#buf, b]); this.#notify(); });
    sock.on('end', () => { this.#ended = true; this.#notify(); });
    sock.on('error', (err: NodeJS.ErrnoException) => { this.error = err; });
    sock.on('close', () => { this.#closedFlag = true; this.#ended = true; this.#notify(); });
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, allowHalfOpen: true });
      s.once('connect', () => { s.removeListener('error', reject); resolve(new RawConnection(s)); });
      s.once('error', reject);
    });
  }

  /** Bytes received and not yet consumed by `response()`. */
  get buffered(): Buffer { return this.#buf; }
  /** The server sent FIN (or the socket closed). */
  get ended(): boolean { return this.#ended; }
  get isClosed(): boolean { return this.#closedFlag; }

  write(data: string | Buffer): boolean {
    return this.sock.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Half-close our side (FIN). */
  end(): void { this.sock.end(); }

  destroy(): void { this.sock.destroy(); }

  #notify(): void {
    const w = this.#wake;
    this.#wake = [];
    for (const f of w) f();
  }

  #waitChange(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), left);
      this.#wake.push(() => { clearTimeout(timer); resolve(true); });
    });
  }

  /** Read one complete response (bodies framed by Content-Length, chunked, or close). Rejects on timeout. */
  async response(timeoutMs = 5000, opts: { head?: boolean } = {}): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = parseResponse(this.#buf, this.#ended, opts.head === true);
      if (r !== undefined) {
        this.#buf = this.#buf.subarray(r.raw.length);
        return r;
      }
      if (this.#ended) throw new Error(`connection ended before a complete response; got ${JSON.stringify(this.#buf.toString('latin1').slice(0, 300))}`);
      if (!(await this.#waitChange(deadline))) throw new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(this.#buf.toString('latin1').slice(0, 300))}`);
    }
  }

  /** Resolves true once the server has closed (FIN or reset) within `timeoutMs`, else false. */
  async closed(timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) if (!(await this.#waitChange(deadline))) return this.#ended;
    return true;
  }

  /** Wait until at least `n` bytes are buffered (or the connection ends). */
  async bytes(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#buf.length < n && !this.#ended) if (!(await this.#waitChange(deadline))) break;
    return this.#buf;
  }
}

/** Parse one response from the start of `buf`; undefined when incomplete. */
export function parseResponse(buf: Buffer, ended: boolean, headRequest = false): RawResponse | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = buf.toString('latin1', 0, end);
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
  if (!m) throw new Error(`malformed status line: ${JSON.stringify(lines[0])}`);
  const status = Number(m[1]);
  const headers: Record<string, string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  const bodyStart = end + 4;
  const done = (bodyEnd: number, body: Buffer): RawResponse =>
    ({ status, statusText: m[2]!, headers, head, body, raw: buf.subarray(0, bodyEnd) });
  if (headRequest || status < 200 || status === 204 || status === 304) return done(bodyStart, Buffer.alloc(0));
  const te = headers['transfer-encoding']?.join(',').toLowerCase();
  if (te !== undefined && te.includes('chunked')) {
    const parts: Buffer[] = [];
    let p = bodyStart;
    for (;;) {
      const eol = buf.indexOf('\r\n', p);
      if (eol === -1) return undefined;
      const size = parseInt(buf.toString('latin1', p, eol).split(';')[0]!, 16);
      if (Number.isNaN(size)) throw new Error('malformed chunk size in response');
      if (size === 0) {
        // Trailers (if any) end with an empty line.
        const tEnd = buf.indexOf('\r\n\r\n', eol);
        const direct = buf.length >= eol + 4 && buf.toString('latin1', eol, eol + 4) === '\r\n\r\n';
        if (direct) return done(eol + 4, Buffer.concat(parts));
        if (tEnd === -1) return undefined;
        return done(tEnd + 4, Buffer.concat(parts));
      }
      if (buf.length < eol + 2 + size + 2) return undefined;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      p = eol + 2 + size + 2;
    }
  }
  const cl = headers['content-length']?.[0];
  if (cl !== undefined) {
    const n = Number(cl);
    if (buf.length < bodyStart + n) return undefined;
    return done(bodyStart + n, buf.subarray(bodyStart, bodyStart + n));
  }
  // No framing: the body runs until the server closes.
  if (!ended) return undefined;
  return done(buf.length, buf.subarray(bodyStart));
}

export interface RawExchange {
  /** The first response, if a complete one arrived. */
  readonly response: RawResponse | undefined;
  /** Everything received. */
  readonly raw: Buffer;
  /** The server closed the connection (within `closeWithinMs` after the response). */
  readonly closed: boolean;
  readonly error: NodeJS.ErrnoException | undefined;
}

/**
 * Send `data` on a fresh connection (pieces written `gapMs` apart when an
 * array), read one response, and report whether the server closed after it.
 */
export async function rawExchange(port: number, data: string | Buffer | Array<string | Buffer>,
  o: { timeoutMs?: number; closeWithinMs?: number; gapMs?: number; head?: boolean } = {}): Promise<RawExchange> {
  const c = await RawConnection.open(port);
  try {
    const pieces = Array.isArray(data) ? data : [data];
    for (let i = 0; i < pieces.length; i++) {
      if (i > 0 && o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
      if (c.isClosed) break;
      c.write(pieces[i]!);
    }
    let response: RawResponse | undefined;
    try { response = await c.response(o.timeoutMs ?? 5000, { head: o.head }); } catch { response = undefined; }
    const closed = await c.closed(o.closeWithinMs ?? 1000);
    const raw = response === undefined ? c.buffered : Buffer.concat([response.raw, c.buffered]);
    return { response, raw, closed, error: c.error };
  } finally {
    c.destroy();
  }
}
