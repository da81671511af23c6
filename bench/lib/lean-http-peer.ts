/**
 * One half of the lean HTTP pair (bench/raw-pipe.ts): about the least HTTP
 * work a Node L7 proxy can do on the mesh path, for comparison with the raw
 * pipe (no HTTP) and the agent (everything). Each accepted connection gets
 * one upstream connection (no pool, no balancer, no timers, no telemetry);
 * request and response heads are split into lines, names lower-cased, one
 * header added, and the head rebuilt as a latin1 string; bodies are framed by
 * Content-Length only (the bench's GETs and nginx's answers), and a small
 * response body leaves in one buffer with its head. Not a proxy for real
 * traffic: no chunked bodies, no validation, no error answers.
 *
 *   node bench/lib/lean-http-peer.ts out|in LISTEN_PORT TARGET_PORT [CERT KEY]
 */
import type net from 'node:net';
import { servePeer } from './peer-server.ts';

interface Head { readonly first: string; readonly fields: string[]; readonly length: number }

function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const fields: string[] = [];
  let length = 0;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    const c = l.indexOf(':');
    if (c <= 0) continue;
    const name = l.slice(0, c).toLowerCase();
    const value = l.slice(c + 1).trim();
    if (name === 'content-length') length = Number(value);
    fields.push(name, value);
  }
  return { first: lines[0]!, fields, length };
}

function buildHead(h: Head): string {
  let s = h.first + '\r\n';
  for (let i = 0; i < h.fields.length; i += 2) s += h.fields[i] + ': ' + h.fields[i + 1] + '\r\n';
  return s + 'x-lean-hop: 1\r\n\r\n';
}

servePeer((down: net.Socket, up: net.Socket): void => {
  let req = '';
  down.on('data', (d: Buffer) => {
    req += d.toString('latin1');
    for (let end = req.indexOf('\r\n\r\n'); end >= 0; end = req.indexOf('\r\n\r\n')) {
      up.write(buildHead(parseHead(req.slice(0, end))), 'latin1');
      req = req.slice(end + 4);
    }
  });
  let res = '';
  let bodyLeft = 0;
  up.on('data', (d: Buffer) => {
    let off = 0;
    while (off < d.length) {
      if (bodyLeft > 0) {
        const n = Math.min(bodyLeft, d.length - off);
        down.write(off === 0 && n === d.length ? d : d.subarray(off, off + n));
        bodyLeft -= n;
        off += n;
        continue;
      }
      const before = res.length;
      res += d.toString('latin1', off);
      const end = res.indexOf('\r\n\r\n');
      if (end < 0) return;
      const h = parseHead(res.slice(0, end));
      off += end + 4 - before;
      res = '';
      const head = buildHead(h);
      const n = Math.min(h.length, d.length - off);
      if (n > 0) {
        const b = Buffer.allocUnsafe(Buffer.byteLength(head, 'latin1') + n);
        d.copy(b, b.write(head, 0, 'latin1'), off, off + n);
        down.write(b);
      } else {
        down.write(head, 'latin1');
      }
      bodyLeft = h.length - n;
      off += n;
    }
  });
});
