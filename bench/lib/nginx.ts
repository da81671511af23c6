/**
 * Starting nginx as a tracked process for the harness: foreground (`daemon off`),
 * one master and one worker, everything (pid, logs, temp files) under its own
 * prefix directory, so it never touches /etc/nginx or /var/log/nginx.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, waitForPort } from './ports.ts';
import type { ProcessGroup, Tracked } from './procs.ts';

/** A complete nginx.conf around an `http { ... }` body. */
export function nginxConf(prefix: string, httpBody: string): string {
  const tmp = (n: string) => `${n}_temp_path ${join(prefix, 'tmp', n)};`;
  return `# written by aim-mesh bench
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
master_process on;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 16384; }
http {
  access_log off;
  default_type application/octet-stream;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(tmp).join('\n  ')}
  keepalive_timeout 120s;
  keepalive_requests 10000000;
  tcp_nodelay on;
${httpBody}
}
`;
}

/** Write the config, start nginx and wait until `port` accepts. */
export async function startNginx(procs: ProcessGroup, bin: string, name: string, prefix: string, httpBody: string, port: number): Promise<Tracked> {
  for (const n of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(prefix, 'tmp', n), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConf(prefix, httpBody));
  const t = procs.spawn(name, bin, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')]);
  await waitForPort(port, t);
  return t;
}

export { HOST };
