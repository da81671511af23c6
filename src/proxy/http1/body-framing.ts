/**
 * Body framing for pass-through HTTP/1.1 bodies: it tells where a body ends
 * while its bytes stream past unchanged (no copy, no buffering).
 *
 *   Length     count down Content-Length bytes
 *   Chunked    a strict chunked-coding scanner: hex size (≤ 15 digits),
 *              extensions (bounded), CRLFs checked, trailer section bounded
 *   UntilClose the body ends when the peer closes (responses only)
 *
 * `feed(buf, start)` returns how many bytes of buf (from start) belong to the
 * body; the caller forwards exactly those and keeps the rest (a pipelined
 * next message). With `dechunk` set, the chunked scanner also collects the
 * payload slices, for HTTP/1.0 clients that cannot receive chunked coding.
 */
import { ProxyError, type Reason } from '../../core/errors.ts';
import { BodyKind } from './head-parser.ts';

const S = { Size: 0, Ext: 1, SizeLF: 2, Data: 3, DataCR: 4, DataLF: 5, TrailerStart: 6, TrailerLine: 7, TrailerLF: 8, FinalLF: 9, Done: 10 } as const;
type S = (typeof S)[keyof typeof S];

export interface FramingLimits {
  /** Max bytes of chunk extensions on one chunk line. */
  readonly maxChunkExtBytes: number;
  /** Max bytes of the trailer section. */
  readonly maxTrailerBytes: number;
}

export const defaultFramingLimits: FramingLimits = { maxChunkExtBytes: 4096, maxTrailerBytes: 16 * 1024 };

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

export class BodyFraming {
  kind: BodyKind = BodyKind.None;
  /** Bytes left in a Length body, or in the current chunk. */
  #left = 0;
  #state: S = S.Size;
  #digits = 0;
  #extBytes = 0;
  #trailerBytes = 0;
  #limits: FramingLimits;
  /** The reason to raise on a framing error (bad_request downstream, upstream_protocol_error upstream). */
  #reason: Reason;
  /** When non-null, chunk payload slices are pushed here (de-chunking). */
  dechunked: Buffer[] | null = null;
  done = true;

  constructor(reason: Reason, limits: FramingLimits = defaultFramingLimits) {
    this.#reason = reason;
    this.#limits = limits;
  }

  reset(kind: BodyKind, contentLength: number, dechunk = false): void {
    this.kind = kind;
    this.#state = S.Size;
    this.#digits = 0;
    this.#left = 0;
    this.#extBytes = 0;
    this.#trailerBytes = 0;
    this.dechunked = dechunk && kind === BodyKind.Chunked ? [] : null;
    if (kind === BodyKind.Length) {
      this.#left = contentLength;
      this.done = contentLength === 0;
    } else {
      this.done = kind === BodyKind.None;
    }
  }

  /** How many bytes of buf[start..] belong to the body. Sets `done` when it ends. */
  feed(buf: Buffer, start: number): number {
    const avail = buf.length - start;
    switch (this.kind) {
      case BodyKind.None:
        return 0;
      case BodyKind.UntilClose:
        return avail;
      case BodyKind.Length: {
        const n = avail < this.#left ? avail : this.#left;
        this.#left -= n;
        if (this.#left === 0) this.done = true;
        return n;
      }
      default:
        return this.#chunked(buf, start);
    }
  }

  #bad(detail: string): never {
    throw new ProxyError(this.#reason, detail);
  }

  #chunked(buf: Buffer, start: number): number {
    let i = start;
    const len = buf.length;
    while (i < len && this.#state !== S.Done) {
      const c = buf[i]!;
      switch (this.#state) {
        case S.Size: {
          const h = hexVal(c);
          if (h >= 0) {
            if (++this.#digits > 15) this.#bad('chunk size too large');
            this.#left = this.#left * 16 + h;
            i++;
          } else if (this.#digits === 0) {
            this.#bad('invalid chunk size');
          } else if (c === 59 /* ; */) {
            this.#state = S.Ext; this.#extBytes = 0; i++;
          } else if (c === 13) {
            this.#state = S.SizeLF; i++;
          } else {
            this.#bad('invalid chunk size');
          }
          break;
        }
        case S.Ext: {
          if (c === 13) { this.#state = S.SizeLF; i++; break; }
          if (c === 10 || c === 0 || c === 127 || (c < 32 && c !== 9)) this.#bad('invalid character in chunk extension');
          if (++this.#extBytes > this.#limits.maxChunkExtBytes) this.#bad('chunk extension too long');
          i++;
          break;
        }
        case S.SizeLF: {
          if (c !== 10) this.#bad('expected LF after chunk size');
          i++;
          this.#digits = 0;
          if (this.#left === 0) { this.#state = S.TrailerStart; this.#trailerBytes = 0; }
          else this.#state = S.Data;
          break;
        }
        case S.Data: {
          const n = Math.min(len - i, this.#left);
          if (this.dechunked) this.dechunked.push(buf.subarray(i, i + n));
          this.#left -= n;
          i += n;
          if (this.#left === 0) this.#state = S.DataCR;
          break;
        }
        case S.DataCR:
          if (c !== 13) this.#bad('expected CRLF after chunk data');
          this.#state = S.DataLF; i++;
          break;
        case S.DataLF:
          if (c !== 10) this.#bad('expected CRLF after chunk data');
          this.#state = S.Size; i++;
          break;
        case S.TrailerStart:
          // Either the final CRLF, or a trailer field line.
          if (c === 13) { this.#state = S.FinalLF; i++; break; }
          if (c === 32 || c === 9) this.#bad('obs-fold in trailer section');
          this.#state = S.TrailerLine;
          break;
        case S.TrailerLine:
          if (++this.#trailerBytes > this.#limits.maxTrailerBytes) this.#bad('trailer section too large');
          if (c === 13) { this.#state = S.TrailerLF; i++; break; }
          if (c === 10 || c === 0) this.#bad('invalid character in trailer section');
          i++;
          break;
        case S.TrailerLF:
          if (c !== 10) this.#bad('bare CR in trailer section');
          this.#state = S.TrailerStart; i++;
          break;
        case S.FinalLF:
          if (c !== 10) this.#bad('expected LF after last chunk');
          this.#state = S.Done; i++;
          this.done = true;
          break;
      }
    }
    return i - start;
  }
}
