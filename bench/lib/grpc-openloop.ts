/**
 * The open-loop generator for the grpc scenario: the same schedule, pacing
 * and coordinated-omission-corrected latency as the HTTP/1 generator
 * (openloop.ts runOpenLoopWith), with requests sent as gRPC unary calls on
 * node:http2 client sessions (h2c, prior knowledge), round-robin over a few
 * sessions as a handful of gRPC channels would. A call counts as good only
 * with HTTP 200, grpc-status 0 (in trailers, or a trailers-only response) and
 * exactly the expected response message; anything else is an error with its
 * grpc-status and message, so a proxy answering UNAVAILABLE fast is not fast.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { GRPC_METHOD, GRPC_REQUEST, GRPC_RESPONSE_FRAME_BYTES, grpcFrame } from './grpc.ts';
import { runOpenLoopWith, type Abortable, type OpenLoopOptions, type OpenLoopResult, type Phase } from './openloop.ts';

const HEADERS = { ':method': 'POST', ':path': GRPC_METHOD, 'content-type': 'application/grpc', te: 'trailers' };
const FRAME = grpcFrame(GRPC_REQUEST);
const { NGHTTP2_CANCEL } = http2.constants;

/** A few h2c sessions to one origin, used in turn. */
export class GrpcLoadClient {
  readonly #sessions: ClientHttp2Session[];
  #next = 0;

  private constructor(sessions: ClientHttp2Session[]) {
    this.#sessions = sessions;
  }

  static async connect(origin: string, sessions: number): Promise<GrpcLoadClient> {
    const list = await Promise.all(Array.from({ length: sessions }, () => new Promise<ClientHttp2Session>((resolve, reject) => {
      const s = http2.connect(origin);
      s.once('connect', () => {
        s.off('error', reject);
        s.on('error', () => {}); // per-stream errors are reported on the streams
        resolve(s);
      });
      s.once('error', reject);
    })));
    return new GrpcLoadClient(list);
  }

  session(): ClientHttp2Session {
    const s = this.#sessions[this.#next] as ClientHttp2Session;
    this.#next = (this.#next + 1) % this.#sessions.length;
    return s;
  }

  close(): Promise<void> {
    return Promise.all(this.#sessions.map((s) => new Promise<void>((r) => {
      if (s.closed || s.destroyed) r();
      else s.close(() => r());
    }))).then(() => undefined);
  }
}

/** One call in flight; its outcome is decided when the stream closes. */
class Call implements Abortable {
  status = 0;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  bytes = 0;
  error: string | undefined;

  readonly p: Phase;
  readonly i: number;
  readonly slot: number;
  readonly sentAt: number;
  readonly stream: ClientHttp2Stream;

  constructor(p: Phase, i: number, slot: number, sentAt: number, stream: ClientHttp2Stream) {
    this.p = p;
    this.i = i;
    this.slot = slot;
    this.sentAt = sentAt;
    this.stream = stream;
    stream.on('response', (h: IncomingHttpHeaders) => {
      this.status = Number(h[':status']);
      this.#grpc(h); // a trailers-only response carries grpc-status here
    });
    stream.on('data', (c: Buffer) => {
      this.bytes += c.length;
    });
    stream.on('trailers', (h: IncomingHttpHeaders) => this.#grpc(h));
    stream.on('error', (e: Error) => {
      this.error ??= e.message;
    });
    stream.on('close', () => this.#done());
  }

  #grpc(h: IncomingHttpHeaders): void {
    const st = h['grpc-status'];
    if (st !== undefined) {
      this.grpcStatus = String(st);
      const m = h['grpc-message'];
      if (m !== undefined) this.grpcMessage = String(m);
    }
  }

  abort(): void {
    this.stream.close(NGHTTP2_CANCEL);
  }

  #done(): void {
    const p = this.p;
    if (this.status === 200 && this.grpcStatus === '0' && this.bytes === GRPC_RESPONSE_FRAME_BYTES) p.succeed(this.slot, this.sentAt);
    else p.fail(describeFailure(this));
    p.settle(this.i, this);
  }
}

function describeFailure(c: Call): string {
  if (c.error && !c.status) return c.error;
  return `status ${c.status}, grpc-status ${c.grpcStatus ?? 'none'}${c.grpcMessage ? ` (${decodeURIComponent(c.grpcMessage)})` : ''}, ` +
    `${c.bytes} body bytes (expected 200, grpc-status 0, ${GRPC_RESPONSE_FRAME_BYTES})${c.error ? `; ${c.error}` : ''}`;
}

/** An open-loop phase of unary calls. `o.path` and `o.expectBytes` are ignored: the method and message are fixed (grpc.ts). */
export function runGrpcOpenLoop(client: GrpcLoadClient, o: OpenLoopOptions): Promise<OpenLoopResult> {
  return runOpenLoopWith(o, (p, i, slot, now) => {
    let stream: ClientHttp2Stream;
    try {
      stream = client.session().request(HEADERS, { endStream: false });
    } catch (e) {
      p.fail((e as Error).message);
      p.settle(i, undefined);
      return;
    }
    p.live.add(new Call(p, i, slot, now, stream));
    stream.end(FRAME);
  });
}

/** One call must succeed before anything is measured; throws with what came back otherwise. */
export async function grpcSmokeCheck(origin: string): Promise<void> {
  const client = await GrpcLoadClient.connect(origin, 1);
  try {
    const r = await runGrpcOpenLoop(client, { path: GRPC_METHOD, rate: 1, durationMs: 1, expectBytes: GRPC_RESPONSE_FRAME_BYTES, drainMs: 10_000 });
    if (r.ok !== 1) throw new Error(`smoke call ${GRPC_METHOD} failed: ${r.firstError ?? (r.timeouts ? 'no answer within 10 s' : 'unknown')}`);
  } finally {
    await client.close();
  }
}
