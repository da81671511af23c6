/**
 * /explain for a hypothetical request: build the RequestCtx the listener
 * would build, walk the listener's filter stack with `explain` (never
 * `onRequest`), then show the route policy, every endpoint with its state
 * and score, the endpoint that would be chosen and why, and the
 * authorization verdict. Nothing is sent and no state moves: no token is
 * taken, no counter or balancer rotation advances.
 */
import { Reasons, type Reason } from '../../core/errors.ts';
import { newRequestCtx, type Direction, type Filter, type RequestCtx } from '../../core/filter.ts';
import type { Cluster } from '../../proxy/cluster.ts';
import { chooseEndpoint } from './choice.ts';
import { endpointView, readersOf } from './endpoints.ts';
import { explainFilter, type FilterExplanation } from './filters.ts';
import { describePolicy } from './policy.ts';
import type { ExplainQuery } from './query.ts';

export interface ExplainStack {
  readonly direction: Direction;
  readonly cluster: Cluster;
  readonly filters: readonly Filter[];
}

/** The listener a query means: by name, else the outbound listener of the upstream, else inbound for our own service. */
export function findStack(stacks: ReadonlyMap<string, ExplainStack>, q: ExplainQuery): [string, ExplainStack] | undefined {
  if (q.listener !== undefined) {
    const s = stacks.get(q.listener);
    return s === undefined ? undefined : [q.listener, s];
  }
  for (const [name, s] of stacks) if (s.direction === 'outbound' && s.cluster.name === q.upstream) return [name, s];
  for (const [name, s] of stacks) if (s.direction === 'inbound' && s.cluster.name === q.upstream) return [name, s];
  return undefined;
}

function simulatedCtx(listener: string, stack: ExplainStack, q: ExplainQuery): RequestCtx {
  const c = newRequestCtx();
  c.direction = stack.direction;
  c.listener = listener;
  c.upstream = stack.cluster.name;
  c.method = q.method;
  c.target = q.path;
  c.headers = q.headers;
  let host: string | undefined;
  let ct: string | undefined;
  for (let i = 0; i < q.headers.length; i += 2) {
    if (q.headers[i] === 'host') host ??= q.headers[i + 1];
    if (q.headers[i] === 'content-type') ct ??= q.headers[i + 1];
  }
  c.authority = host ?? stack.cluster.name;
  c.grpc = ct !== undefined && ct.startsWith('application/grpc');
  c.protocol = c.grpc ? 'h2' : 'http/1.1';
  c.peerIdentity = q.peer;
  c.remoteAddress = q.source ?? '127.0.0.1';
  c.requestId = 'explain';
  c.startedAt = performance.now();
  return c;
}

export function explainRequest(listener: string, stack: ExplainStack, q: ExplainQuery, now = performance.now()): Record<string, unknown> {
  const ctx = simulatedCtx(listener, stack, q);
  const cluster = stack.cluster;

  // 1. The filter stack, in order, up to the first that would answer.
  const filters: Array<{ name: string } & FilterExplanation> = [];
  let stoppedBy: { filter: string; reason: string; status: number; detail?: unknown } | undefined;
  let authorization: Record<string, unknown> | undefined;
  for (const f of stack.filters) {
    if (stoppedBy !== undefined) { filters.push({ name: f.name, reached: false }); continue; }
    const e = explainFilter(f, ctx);
    filters.push({ name: f.name, ...e });
    if (typeof e.allowed === 'boolean') authorization = { allowed: e.allowed, rule: e.rule ?? 'unknown', decided_by: f.name, peer: ctx.peerIdentity ?? null };
    if (e.verdict === 'reply') {
      const reason = (e.reason ?? 'internal_error') as Reason;
      stoppedBy = { filter: f.name, reason, status: Reasons[reason]?.status ?? 500, ...(e['detail'] !== undefined ? { detail: e['detail'] } : {}) };
    }
  }
  authorization ??= stack.direction === 'outbound'
    ? { allowed: null, rule: null, decided_by: 'the upstream\'s agent, on its inbound side', hint: `ask that agent: /explain?upstream=${cluster.name}&peer=<this service's SPIFFE ID>&…` }
    : { allowed: true, rule: 'none: no authorization filter on the inbound stack', decided_by: null, peer: ctx.peerIdentity ?? null };

  // 2. Route and policies, 3. endpoints, 4. the choice.
  const policy = describePolicy(cluster, ctx);
  const readers = readersOf(cluster);
  const endpoints = cluster.endpoints.list.map((ep) => endpointView(cluster, ep, now, readers));
  const choice = chooseEndpoint(cluster.balancer, cluster.endpoints.list, ctx, now);

  let verdict: string;
  if (stoppedBy !== undefined) verdict = `refused by the ${stoppedBy.filter} filter: ${stoppedBy.reason} (${stoppedBy.status})`;
  else if (choice.endpoint === null && choice.reason === 'no_endpoints') verdict = `refused: no_endpoints (${Reasons.no_endpoints.status})`;
  else if (choice.endpoint === null) verdict = `sent to one of the available endpoints (${choice.rule})`;
  else verdict = `sent to ${choice.endpoint}`;

  return {
    request: {
      listener, direction: ctx.direction, upstream: cluster.name, method: ctx.method, path: ctx.target, authority: ctx.authority,
      headers: pairs(q.headers), peer: ctx.peerIdentity ?? null, source: ctx.remoteAddress,
    },
    verdict,
    ...(stoppedBy !== undefined ? { stopped_by: { ...stoppedBy, help: Reasons[stoppedBy.reason as Reason]?.help } } : {}),
    authorization,
    route: policy,
    balancer: { kind: cluster.balancer.kind, panic: (cluster.balancer as { panicking?: boolean }).panicking === true },
    endpoints,
    choice,
    filters,
  };
}

function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
