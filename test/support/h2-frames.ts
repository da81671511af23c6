/**
 * A raw HTTP/2 frame writer and reader for hardening tests: frames are built
 * byte by byte (RFC 9113 §4.1), so a test can send what no conforming client
 * would — rapid resets, CONTINUATION floods, window overflows, malformed
 * HPACK, connection-specific headers — and watch the server's frames
 * (RST_STREAM and GOAWAY codes) and whether it closes.
 *
 * HPACK here is the smallest correct encoder: literal fields without
 * indexing and without Huffman coding (RFC 7541 §6.2.2), plus a reader for
 * the `:status` of common responses (static-table indexed, or a literal).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
export const ErrorCode = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, SETTINGS_TIMEOUT: 4, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, CONNECT_ERROR: 10, ENHANCE_YOUR_CALM: 11, INADEQUATE_SECURITY: 12, HTTP_1_1_REQUIRED: 13 } as const;
export const Setting = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

export function settings(entries: Array<[number, number]> = [], ack = false): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v >>> 0, i * 6 + 2); });
  return frame(FrameType.SETTINGS, ack ? Flag.ACK : 0, 0, p);
}

export function headersFrame(streamId: number, block: Buffer, o: { endStream?: boolean; endHeaders?: boolean } = {}): Buffer {
  const flags = (o.endStream ? Flag.END_STREAM : 0) | (o.endHeaders === false ? 0 : Flag.END_HEADERS);
  return frame(FrameType.HEADERS, flags, streamId, block);
}

export function continuation(streamId: number, block: Buffer, endHeaders = false): Buffer {
  return frame(FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId, block);
}

export function data(streamId: number, payload: Buffer, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, payload);
}

export function rstStream(streamId: number, code: number = ErrorCode.CANCEL): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

export function ping(payload: Buffer = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, payload);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment >>> 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
}

export function goaway(lastStreamId: number, code: number = ErrorCode.NO_ERROR): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStreamId);
  p.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` carries the pattern bits above the prefix. */
export function hpackInt(value: number, prefixBits: number, first = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) { out.push((v % 128) + 128); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(b.length, 7, 0), b]);
}

/** A header block of literal fields without indexing (new names, no Huffman). */
export function hpack(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([n, v]) => [Buffer.from([0x00]), hpackString(n), hpackString(v)]));
}

/** A GET request's header block. */
export function requestBlock(path = '/', extra: Array<[string, string]> = [], method = 'GET', authority = 'api'): Buffer {
  return hpack([[':method', method], [':scheme', 'http'], [':path', path], [':authority', authority], ...extra]);
}

const STATIC_STATUS: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

/** The `:status` of a response header block, when it is the first field and encoded simply; else undefined. */
export function statusOf(block: Buffer): number | undefined {
  const b = block[0];
  if (b === undefined) return undefined;
  if (b & 0x80) return STATIC_STATUS[b & 0x7f];
  // Literal with indexed name :status (index 8), any of the three literal forms.
  const nameIdx = (b & 0xc0) === 0x40 ? b & 0x3f : b & 0x0f;
  if (nameIdx < 8 || nameIdx > 14) return undefined;
  const len = block[1]!;
  if (len & 0x80) {
    // Huffman-coded 3 digits: decode the digit codes (5-6 bits each, RFC 7541 Appendix B).
    return huffmanDigits(block.subarray(2, 2 + (len & 0x7f)));
  }
  return Number(block.toString('latin1', 2, 2 + len));
}

// Huffman codes of '0'-'9' (RFC 7541 Appendix B): 0,1,2 are 5 bits; 3-9 are 6 bits.
const DIGIT_CODES: Array<[number, number]> = [[0x0, 5], [0x1, 5], [0x2, 5], [0x19, 6], [0x1a, 6], [0x1b, 6], [0x1c, 6], [0x1d, 6], [0x1e, 6], [0x1f, 6]];

function huffmanDigits(b: Buffer): number | undefined {
  let bits = '';
  for (const x of b) bits += x.toString(2).padStart(8, '0');
  let out = '';
  let p = 0;
  while (out.length < 3) {
    const hit = DIGIT_CODES.findIndex(([code, n]) => bits.slice(p, p + n) === code.toString(2).padStart(n, '0'));
    if (hit === -1) return undefined;
    out += String(hit);
    p += DIGIT_CODES[hit]![1];
  }
  return Number(out);
}

export interface Frame { type: number; flags: number; streamId: number; payload: Buffer }

/** A raw HTTP/2 client connection: write frames, collect the server's frames. */
export class H2RawConnection {
  readonly sock: Socket;
  readonly frames: Frame[] = [];
  #buf = Buffer.alloc(0);
  closed = false;
  #waiters: Array<() => void> = [];

  constructor(sock: Socket) {
    this.sock = sock;
    sock.on('data', (b: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, b]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        this.frames.push({ type: this.#buf[3]!, flags: this.#buf[4]!, streamId: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) });
        this.#buf = this.#buf.subarray(9 + len);
      }
      this.#wake();
    });
    sock.on('error', () => {});
    sock.on('close', () => { this.closed = true; this.#wake(); });
  }

  /** Connect (h2c prior knowledge, or TLS with ALPN h2 when `tls` is given) and send the preface and our SETTINGS. */
  static open(port: number, o: { tls?: ConnectionOptions; settings?: Array<[number, number]> } = {}): Promise<H2RawConnection> {
    return new Promise((resolve, reject) => {
      const s = o.tls ? tlsConnect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], ...o.tls }) : netConnect(port, '127.0.0.1');
      s.once(o.tls ? 'secureConnect' : 'connect', () => {
        s.removeListener('error', reject);
        s.write(Buffer.concat([PREFACE, settings(o.settings ?? [])]));
        resolve(new H2RawConnection(s));
      });
      s.once('error', reject);
    });
  }

  write(b: Buffer): void { if (!this.sock.destroyed) this.sock.write(b); }

  #wake(): void { const w = this.#waiters; this.#waiters = []; for (const f of w) f(); }

  /** Wait for a frame matching `pred` (or the close), up to timeoutMs. */
  async waitFor(pred: (f: Frame) => boolean, timeoutMs = 3000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f !== undefined || this.closed) return f;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.#waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** Resolves true when the server closed the connection within timeoutMs. */
  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    await this.waitFor(() => false, timeoutMs);
    return this.closed;
  }

  goaway(): { lastStreamId: number; code: number } | undefined {
    const f = this.frames.find((x) => x.type === FrameType.GOAWAY);
    return f === undefined ? undefined : { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  rstCode(streamId: number): number | undefined {
    const f = this.frames.find((x) => x.type === FrameType.RST_STREAM && x.streamId === streamId);
    return f?.payload.readUInt32BE(0);
  }

  /** The :status of the response HEADERS on a stream, if readable. */
  status(streamId: number): number | undefined {
    const f = this.frames.find((x) => x.type === FrameType.HEADERS && x.streamId === streamId);
    return f === undefined ? undefined : statusOf(f.payload);
  }

  destroy(): void { this.sock.destroy(); }
}
