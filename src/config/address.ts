/** HOST:PORT values in config and flags (IPv6 as [::1]:80). */
import { z } from 'zod';

export interface HostPort { readonly host: string; readonly port: number }

export function parseHostPort(v: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(v.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export const hostPort = z.string().transform((v, ctx) => {
  const a = parseHostPort(v);
  if (!a) {
    ctx.addIssue({ code: 'custom', message: 'expected HOST:PORT, e.g. "127.0.0.1:8080" or "[::1]:8080"' });
    return z.NEVER;
  }
  return a;
});
