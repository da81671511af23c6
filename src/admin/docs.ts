/**
 * Text generated from the admin route table: the index page (GET /), the
 * route list of `aim-mesh admin --help`, and the README's Markdown table.
 * Takes the table as an argument, so this file has no dependency on the
 * handlers (and routes.ts can import it without a cycle).
 */

export interface RouteDoc {
  readonly path: string;
  readonly method: string;
  readonly help: string;
  readonly mutates: boolean;
  readonly params?: readonly string[];
}

const MUTATING_NOTE = 'Mutating routes (POST) answer loopback callers, or callers sending Authorization: Bearer <admin.token>; other methods get 405.';

function withParams(r: RouteDoc): string {
  return r.params?.length ? `${r.path}?${r.params.map((p) => p.split(' ')[0]).join('&')}` : r.path;
}

/** One line per route: method, path, help. */
export function routeLines(routes: readonly RouteDoc[], indent = ''): string[] {
  const w = Math.max(...routes.map((r) => r.path.length));
  return routes.map((r) => `${indent}${r.method.padEnd(4)} ${r.path.padEnd(w)}  ${r.help}`);
}

export function adminIndex(routes: readonly RouteDoc[]): string {
  return ['aim-mesh admin', '', ...routeLines(routes), '', MUTATING_NOTE, ''].join('\n');
}

export function adminUsage(routes: readonly RouteDoc[]): string {
  return [
    'Usage: aim-mesh admin get|post PATH [--admin HOST:PORT] [--token TOKEN]',
    '',
    'Call the admin API of a running agent (default 127.0.0.1:19000) and print',
    'the answer. Exits 0 on a 2xx answer, 1 otherwise.',
    '',
    'Routes:',
    ...routeLines(routes, '  '),
    '',
    'Query parameters:',
    ...routes.filter((r) => r.params?.length).map((r) => `  ${withParams(r)}`),
    '',
    MUTATING_NOTE,
    '',
    'Examples:',
    '  aim-mesh admin get /ready',
    "  aim-mesh admin get '/explain?upstream=api&method=GET&path=/v1/x&header=x-user:42'",
    "  aim-mesh admin post '/logging?level=debug' --admin 127.0.0.1:19001",
    '',
  ].join('\n');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The README table. */
export function adminRoutesMarkdown(routes: readonly RouteDoc[]): string {
  return [
    '| Method | Path | Mutates | What it answers |',
    '|---|---|---|---|',
    ...routes.map((r) => `| ${r.method} | \`${cell(withParams(r))}\` | ${r.mutates ? 'yes' : 'no'} | ${cell(r.help)} |`),
  ].join('\n');
}
