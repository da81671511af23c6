/**
 * `aim-mesh admin`: call a running agent's admin API. The route list in
 * --help is generated from the admin route table (src/admin/routes.ts).
 *
 *   aim-mesh admin get /ready
 *   aim-mesh admin post '/logging?level=debug' --admin 127.0.0.1:19001 --token T
 */
import { request } from 'undici';
import { adminRoutes } from '../../admin/routes.ts';
import { adminUsage } from '../../admin/docs.ts';

export const usage = adminUsage(adminRoutes);

export async function run(argv: string[]): Promise<number> {
  const pos: string[] = [];
  let admin = '127.0.0.1:19000';
  let token = process.env['AIM_MESH_ADMIN_TOKEN'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [k, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    if (k === '--admin' || k === '--token') {
      const v = inline ?? argv[++i];
      if (v === undefined) { process.stderr.write(`aim-mesh admin: ${k} needs a value\n`); return 2; }
      if (k === '--admin') admin = v; else token = v;
    } else if (a.startsWith('--')) {
      process.stderr.write(`aim-mesh admin: unknown option ${a}\n\n${usage}`);
      return 2;
    } else pos.push(a);
  }
  const [verb, path] = pos;
  if ((verb !== 'get' && verb !== 'post') || path === undefined || !path.startsWith('/') || pos.length > 2) {
    process.stderr.write(usage);
    return 2;
  }
  const base = /^https?:\/\//.test(admin) ? admin.replace(/\/$/, '') : `http://${admin}`;
  try {
    const res = await request(`${base}${path}`, {
      method: verb === 'get' ? 'GET' : 'POST',
      headers: token ? { authorization: `Bearer ${token}` } : {},
      headersTimeout: 10_000, bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    (res.statusCode >= 200 && res.statusCode < 300 ? process.stdout : process.stderr).write(text.endsWith('\n') ? text : `${text}\n`);
    return res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`aim-mesh admin: cannot reach ${base}: ${(err as Error).message}\n`);
    return 1;
  }
}
