/**
 * The admin API as one declarative route table (Envoy's admin handlers):
 * each entry has a path, a method, help text, whether it mutates state, and
 * its handler. Everything else is generated from or enforced by it:
 *
 *   - the index page (GET /) and `aim-mesh admin --help` (docs.ts);
 *   - the README table (src/admin/README-admin.md, checked by a test);
 *   - method and caller rules (server.ts): mutating routes are POST-only,
 *     and answer loopback callers or holders of the admin token.
 *
 * One handler file per concern under handlers/.
 */
import type { Agent } from '../agent/agent.ts';
import { adminIndex } from './docs.ts';
import { certs } from './handlers/certs.ts';
import { configDump } from './handlers/config-dump.ts';
import { explain } from './handlers/explain.ts';
import { drain, healthcheck, logging, quit, resetCounters } from './handlers/mutations.ts';
import { live, ready, serverInfo } from './handlers/status.ts';
import { metrics, stats } from './handlers/stats.ts';
import { clusters, listeners } from './handlers/topology.ts';

export interface AdminRequest {
  readonly url: URL;
  readonly method: string;
  readonly remoteAddress: string | undefined;
}

export interface AdminResponse {
  readonly status: number;
  readonly body: string | object;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
}

export interface AdminContext {
  readonly agent: Agent;
  /** Ask the process to exit (after draining). */
  readonly quit: () => void;
}

export type AdminHandler = (req: AdminRequest, ctx: AdminContext) => AdminResponse | Promise<AdminResponse>;

export interface AdminRoute {
  readonly path: string;
  readonly method: 'GET' | 'POST';
  /** One line; ends up on the index page, in --help and in the README. */
  readonly help: string;
  /** Query parameters, for the docs: `name=what`. */
  readonly params?: readonly string[];
  readonly mutates: boolean;
  readonly handler: AdminHandler;
}

export const adminRoutes: readonly AdminRoute[] = [
  { path: '/', method: 'GET', mutates: false, help: 'This index: every admin route with its help.',
    handler: () => ({ status: 200, contentType: 'text/plain; charset=utf-8', body: adminIndex(adminRoutes) }) },
  { path: '/ready', method: 'GET', mutates: false, handler: ready,
    help: '200 when listeners are bound, identity is loaded and discovery has synced; else 503 listing what is missing (also while draining or after /healthcheck/fail).' },
  { path: '/live', method: 'GET', mutates: false, handler: live, help: '200 while the process is alive (liveness probe).' },
  { path: '/metrics', method: 'GET', mutates: false, handler: metrics, help: 'Prometheus metrics (text exposition format).' },
  { path: '/stats', method: 'GET', mutates: false, handler: stats, params: ['format=text|json|prometheus', 'filter=SUBSTRING'],
    help: 'Every metric series as `name{labels}: value` lines, or JSON with format=json; filter keeps names containing a substring.' },
  { path: '/clusters', method: 'GET', mutates: false, handler: clusters,
    help: 'Per upstream and endpoint: health, ejection, breaker state, active requests, EWMA latency, requests and errors totals, weight, balancer score.' },
  { path: '/listeners', method: 'GET', mutates: false, handler: listeners, help: 'Bound listeners: name, address, protocol, open and accepted connections.' },
  { path: '/config_dump', method: 'GET', mutates: false, handler: configDump,
    help: 'The effective configuration (defaults applied), with secrets redacted: tokens, passwords, key material, URL credentials.' },
  { path: '/certs', method: 'GET', mutates: false, handler: certs, help: 'The workload identity: SPIFFE ID, leaf, chain and roots with validity, renewal schedule.' },
  { path: '/explain', method: 'GET', mutates: false, handler: explain,
    params: ['upstream=NAME', 'method=GET', 'path=/x', 'header=k:v (repeatable)', 'peer=SPIFFE_ID', 'source=IP', 'request_id=ID', 'transparent'],
    help: 'Why a request goes where it goes: route and policies, every endpoint with state and score, the choice, authorization; or, with request_id, the attempts of a recent request; or, with transparent, the capture: policy, index, counts and the last non-mesh destinations.' },
  { path: '/server_info', method: 'GET', mutates: false, handler: serverInfo, help: 'Version, uptime, node, service, state and log level.' },
  { path: '/logging', method: 'POST', mutates: true, handler: logging, params: ['level=trace|debug|info|warn|error|fatal|silent'],
    help: 'Change the log level at runtime (every component logger follows; the access log stays on while enabled).' },
  { path: '/drain', method: 'POST', mutates: true, handler: drain, help: 'Start a graceful drain: /ready turns 503, listeners stop accepting, in-flight requests finish.' },
  { path: '/quitquitquit', method: 'POST', mutates: true, handler: quit, help: 'Drain, then exit the process.' },
  { path: '/healthcheck/fail', method: 'POST', mutates: true, handler: healthcheck(true),
    help: 'Fail health checks on purpose: /ready answers 503 (and the Consul TTL check fails) until /healthcheck/ok.' },
  { path: '/healthcheck/ok', method: 'POST', mutates: true, handler: healthcheck(false), help: 'Undo /healthcheck/fail.' },
  { path: '/reset_counters', method: 'POST', mutates: true, handler: resetCounters, help: 'Reset every counter and histogram to zero (gauges keep describing the present).' },
];
