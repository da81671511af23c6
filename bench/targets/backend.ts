/**
 * The backend every target ends at: nginx from Debian, one worker, serving each
 * scenario's fixed body from a file (sendfile, open-file cache) with keep-alive.
 * One backend is shared by all targets of a run, so they differ only in the path.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNginx } from '../lib/nginx.ts';
import { freePort, HOST } from '../lib/ports.ts';
import type { ProcessGroup, Tracked } from '../lib/procs.ts';
import type { Scenario } from '../lib/scenario.ts';
import type { Backend } from './types.ts';

export interface RunningBackend extends Backend {
  readonly tracked: Tracked;
}

export async function startBackend(procs: ProcessGroup, nginx: string, dir: string, scenarios: readonly Scenario[]): Promise<RunningBackend> {
  const prefix = join(dir, 'backend');
  const www = join(prefix, 'www');
  mkdirSync(www, { recursive: true });
  for (const s of scenarios) {
    const line = Buffer.from(`aim-mesh bench body for scenario ${s.name}\n`);
    const body = Buffer.alloc(s.bodyBytes);
    for (let i = 0; i < s.bodyBytes; i += line.length) line.copy(body, i);
    writeFileSync(join(www, s.path.replace(/^\//, '')), body);
  }
  const port = await freePort();
  const tracked = await startNginx(procs, nginx, 'backend-nginx', prefix, `
  sendfile on;
  open_file_cache max=64 inactive=600s;
  server {
    listen ${HOST}:${port} backlog=4096;
    root ${www};
    location / { try_files $uri =404; }
  }`, port);
  return { port, tracked, pids: () => tracked.pids() };
}
