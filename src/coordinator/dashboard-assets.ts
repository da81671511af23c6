/**
 * The dashboard's static files (src/coordinator/dashboard/: plain HTML, JS and
 * CSS, no build step), read once at startup and served from memory with a
 * strict Content-Security-Policy: scripts and styles only from this origin,
 * live data only over this origin's WebSocket.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const dir = new URL('./dashboard/', import.meta.url);

const files: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/topology.js': 'topology.js',
  '/style.css': 'style.css',
};

const types: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export const dashboardCsp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function loadDashboardAssets(): ReadonlyMap<string, Asset> {
  const out = new Map<string, Asset>();
  for (const [path, file] of Object.entries(files)) {
    const body = readFileSync(fileURLToPath(new URL(file, dir)));
    out.set(path, { body, type: types[file.split('.').pop()!]! });
  }
  return out;
}
