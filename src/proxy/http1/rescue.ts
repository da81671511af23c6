/**
 * The HTTP/1 rescue point: the only place a ProxyError becomes bytes on the
 * wire (linkerd's ServerRescue). Every proxy-generated response carries the
 * reason three ways: the `x-aim-mesh-error` header, a JSON body
 * `{ "error": reason, "detail": ... }`, and (through ctx.reason) the metric
 * label and the access-log field. The rescue also logs the error, once.
 */
import type { ProxyError } from '../../core/errors.ts';
import { ERROR_HEADER, sanitizeHeaderValue } from './headers.ts';
// node:http through process.getBuiltinModule, not an ESM import: importing it as ESM builds a
// namespace from every export, and its lazy WebSocket/MessageEvent getters load Node's bundled
// undici (~4 MB RSS per agent). README, Performance, Memory.
const { STATUS_CODES } = process.getBuiltinModule('node:http');

export function errorResponse(err: ProxyError, close: boolean, requestId: string): Buffer {
  const status = err.status;
  const body = JSON.stringify({ error: err.reason, detail: err.detail, request_id: requestId || undefined });
  let s = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`
    + `content-type: application/json\r\n${ERROR_HEADER}: ${err.reason}\r\n`
    + `content-length: ${Buffer.byteLength(body)}\r\n`;
  if (requestId) s += `x-request-id: ${sanitizeHeaderValue(requestId)}\r\n`;
  if (err.headers) for (const k in err.headers) s += `${k}: ${sanitizeHeaderValue(err.headers[k]!)}\r\n`;
  s += close ? 'connection: close\r\n\r\n' : '\r\n';
  return Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from(body, 'utf8')]);
}
