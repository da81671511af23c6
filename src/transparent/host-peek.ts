/**
 * The Host of a captured HTTP/1 request, read before deciding where the
 * connection goes (a destination that is not a mesh address may still name a
 * service: `api.service.consul`). The bytes are put back, so whoever serves
 * the connection reads it from its first byte.
 */
import type { Socket } from 'node:net';

/**
 * Read an HTTP/1 request head (the socket is paused with its first bytes put
 * back) and report its Host; the bytes are put back again and the socket
 * left paused. undefined when the head does not complete in time or in size.
 */
export function readHost(s: Socket, maxBytes: number, timeoutMs: number, cb: (host: string | undefined) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let done = false;
  const finish = (host: string | undefined): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    s.removeListener('data', onData);
    s.removeListener('close', onClose);
    s.pause();
    if (buf.length > 0) s.unshift(buf);
    if (!s.destroyed) cb(host);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end !== -1) finish(/\r\nhost:[ \t]*([^\r]*)/i.exec(buf.toString('latin1', 0, end + 2))?.[1]?.trim());
    else if (buf.length > maxBytes) finish(undefined);
  };
  const onClose = (): void => finish(undefined);
  const timer = setTimeout(() => finish(undefined), timeoutMs);
  s.on('data', onData);
  s.once('close', onClose);
  s.resume();
}
