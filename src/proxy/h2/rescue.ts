/**
 * The HTTP/2 and gRPC rescue point: where a ProxyError becomes frames.
 *
 * - gRPC request, nothing sent yet: a trailers-only response (RFC-style
 *   "Trailers-Only" of the gRPC over HTTP/2 spec): `:status 200`,
 *   `content-type: application/grpc`, `grpc-status` from the reason's gRPC
 *   code, `grpc-message` "<reason>: <detail>" (percent-encoded), and
 *   `x-aim-mesh-error`. gRPC clients see a status, never an HTTP error.
 * - gRPC request, response headers already sent: the same status goes in the
 *   trailers (`grpcErrorTrailers`), so the client still learns why.
 * - Plain h2, nothing sent yet: the HTTP/1 rescue's shape: status code,
 *   `x-aim-mesh-error`, JSON `{ error, detail, request_id }`.
 * - Plain h2 after the response started: RST_STREAM (INTERNAL_ERROR), so a
 *   truncated body is never mistaken for a complete one.
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Reasons, type ProxyError } from '../../core/errors.ts';
import { ERROR_HEADER, sanitizeHeaderValue } from '../http1/headers.ts';

/** Percent-encode a grpc-message (spec: bytes outside 0x20–0x7E, and '%'). */
export function encodeGrpcMessage(msg: string): string {
  let out = '';
  for (const b of Buffer.from(msg, 'utf8')) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function grpcStatusOf(err: ProxyError): number {
  return Reasons[err.reason].grpc;
}

/** The grpc-status / grpc-message / x-aim-mesh-error fields for an error. */
export function grpcErrorTrailers(err: ProxyError): OutgoingHttpHeaders {
  return {
    'grpc-status': String(grpcStatusOf(err)),
    'grpc-message': encodeGrpcMessage(`${err.reason}: ${err.detail}`),
    [ERROR_HEADER]: err.reason,
  };
}

/** Answer a stream whose response has not started. Returns the HTTP status sent. */
export function respondError(stream: ServerHttp2Stream, err: ProxyError, grpc: boolean, requestId: string): number {
  if (stream.destroyed || stream.closed || stream.headersSent) return 0;
  const extra: OutgoingHttpHeaders = {};
  if (requestId) extra['x-request-id'] = sanitizeHeaderValue(requestId);
  if (err.headers) for (const k of Object.keys(err.headers)) extra[k.toLowerCase()] = sanitizeHeaderValue(err.headers[k]!);
  try {
    if (grpc) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...grpcErrorTrailers(err), ...extra }, { endStream: true });
      return 200;
    }
    const body = JSON.stringify({ error: err.reason, detail: err.detail, request_id: requestId || undefined });
    stream.respond({
      ':status': err.status, 'content-type': 'application/json', [ERROR_HEADER]: err.reason,
      'content-length': Buffer.byteLength(body), ...extra,
    });
    stream.end(body);
    return err.status;
  } catch {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return 0;
  }
}
