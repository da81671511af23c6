/**
 * The attempt loop both HTTP paths share (src/proxy/attempt-loop.ts), driven
 * by a recording host: the protocol side is what the integration suites
 * cover over real sockets; here, the loop's own rules. Every attempt is
 * reported to the cluster exactly once, retries need a replayable request and
 * the decider's yes, a resend is not an attempt, a timeout during an injected
 * delay cancels the delay, and the request deadline caps the per-try timer.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyError } from '../../../src/core/errors.ts';
import { newRequestCtx, type RequestCtx } from '../../../src/core/filter.ts';
import type { Endpoint } from '../../../src/balancer/endpoint.ts';
import type { AttemptResult } from '../../../src/balancer/types.ts';
import type { AttemptInfo, Cluster, RetryDecider } from '../../../src/proxy/cluster.ts';
import { AttemptLoop, type AttemptHost } from '../../../src/proxy/attempt-loop.ts';
import { FaultInjector } from '../../../src/resilience/fault/injector.ts';
import type { RoutePolicy } from '../../../src/resilience/upstream.ts';

const ep = (key: string): Endpoint => ({ key }) as unknown as Endpoint;

/** A decider that answers from a script and records what it was asked. */
class ScriptedDecider implements RetryDecider {
  asked: Array<{ result: AttemptResult; info: AttemptInfo }> = [];
  retries = 0;
  answers: number[];
  constructor(answers: number[]) { this.answers = answers; }
  next(_ctx: RequestCtx, result: AttemptResult, info: AttemptInfo): number {
    this.asked.push({ result, info });
    return this.answers.shift() ?? -1;
  }
  onRetry(): void { this.retries++; }
}

function fakeCluster(endpoints: Endpoint[], retry: RetryDecider) {
  const events: string[] = [];
  let i = 0;
  const cluster = {
    name: 'api',
    retry,
    balancer: { pick: (_c: RequestCtx, _prev: Endpoint | undefined) => (endpoints.length ? endpoints[i++ % endpoints.length] : undefined) },
    attemptStarted: (e: Endpoint) => { events.push(`start ${e.key}`); },
    attemptEnded: (e: Endpoint, _c: RequestCtx, r: AttemptResult) => { events.push(`end ${e.key} ${r.ok ? 'ok' : 'fail'} ${r.status}${r.reason ? ` ${r.reason}` : ''}`); },
  };
  return { cluster: cluster as unknown as Cluster, events };
}

class Host implements AttemptHost {
  opened: Array<{ ep: string; seq: number }> = [];
  failedWith: ProxyError[] = [];
  drops = 0;
  delays = 0;
  retries = 0;
  retryable = true;
  replayable = true;
  requestSent = false;
  over = false;
  openAttempt(e: Endpoint, seq: number): void { this.opened.push({ ep: e.key, seq }); }
  dropAttempt(): void { this.drops++; }
  fail(err: ProxyError): void { this.failedWith.push(err); this.over = true; }
  delayed(): void { this.delays++; }
  retrying(): void { this.retries++; this.requestSent = false; }
}

function route(o: { retry: RetryDecider; perTryMs?: number; fault?: FaultInjector }): RoutePolicy {
  return { name: 'r', timeouts: { connectMs: 0, requestMs: 0, perTryMs: o.perTryMs ?? 0, idleMs: 0 }, retry: o.retry, fault: o.fault, maxReplayBody: 0 } as RoutePolicy;
}

function setup(o: { answers?: number[]; endpoints?: string[]; routed?: boolean; perTryMs?: number; fault?: FaultInjector; deadline?: number } = {}) {
  const decider = new ScriptedDecider(o.answers ?? []);
  const { cluster, events } = fakeCluster((o.endpoints ?? ['a', 'b']).map(ep), decider);
  const host = new Host();
  const loop = new AttemptLoop(host, cluster);
  const ctx = newRequestCtx();
  if (o.routed !== false && (o.perTryMs !== undefined || o.fault !== undefined || o.routed)) ctx.route = route({ retry: decider, perTryMs: o.perTryMs, fault: o.fault });
  loop.begin(ctx, o.deadline ?? Infinity);
  return { loop, host, ctx, decider, events };
}

t.test('a failed attempt is retried on the decider\'s yes, on the next endpoint, each attempt reported once', async (t) => {
  const { loop, host, ctx, decider, events } = setup({ answers: [0] });
  loop.attempt();
  t.same(host.opened, [{ ep: 'a', seq: 1 }]);
  t.ok(loop.current(1));
  loop.failed(new ProxyError('upstream_connect_failed', 'refused'));
  t.same(host.opened, [{ ep: 'a', seq: 1 }, { ep: 'b', seq: 2 }], 'second attempt opened at once');
  t.notOk(loop.current(1), 'the first attempt\'s late callback is recognised as stale');
  t.equal(ctx.attempts, 2);
  t.equal(decider.retries, 1, 'onRetry called for the retry');
  t.equal(host.retries, 1, 'the host forgot the failed attempt');
  t.equal(host.drops, 1);
  t.equal(decider.asked[0]!.result.reason, 'upstream_connect_failed');
  t.equal(loop.responded(200, true, undefined), false, 'a 200 is used');
  t.same(events, ['start a', 'end a fail 0 upstream_connect_failed', 'start b', 'end b ok 200']);
  loop.end(false, 0, 'downstream_reset');
  t.equal(events.length, 4, 'end after end reports nothing');
  t.same(host.failedWith, []);
  loop.dispose();
});

t.test('no retry when the decider says no, or the request cannot be replayed: the host fails once', async (t) => {
  const a = setup({ answers: [-1] });
  a.loop.attempt();
  a.loop.failed(new ProxyError('upstream_reset', 'reset'));
  t.equal(a.host.failedWith.length, 1);
  t.equal(a.host.failedWith[0]!.reason, 'upstream_reset');
  t.equal(a.host.opened.length, 1);

  const b = setup({ answers: [0] });
  b.loop.attempt();
  b.host.replayable = false;
  b.loop.failed(new ProxyError('upstream_reset', 'reset'));
  t.equal(b.host.failedWith.length, 1, 'a body streamed past the replay buffer is never resent');
  t.equal(b.decider.retries, 0);

  const c = setup({ answers: [0] });
  c.loop.attempt();
  c.host.retryable = false; // a response byte went downstream
  c.host.requestSent = true;
  c.loop.failed(new ProxyError('upstream_reset', 'reset'));
  t.equal(c.decider.asked.length, 0, 'the decider is not asked once the response started');
  t.equal(c.host.failedWith.length, 1);

  const d = setup({ answers: [0] });
  d.loop.attempt();
  d.host.over = true; // the client went away
  d.loop.failed(new ProxyError('upstream_reset', 'reset'));
  t.equal(d.decider.asked.length, 0);
  t.equal(d.host.failedWith.length, 1, 'the failure still reaches the host (its one failure path)');
});

t.test('the decider sees whether request bytes reached the upstream', async (t) => {
  const { loop, host, decider } = setup({ answers: [0, -1] });
  loop.attempt();
  host.requestSent = true;
  loop.failed(new ProxyError('upstream_reset', 'reset'));
  t.equal(decider.asked[0]!.info.requestBytesSent, true);
  loop.failed(new ProxyError('upstream_reset', 'reset again'));
  t.equal(decider.asked[1]!.info.requestBytesSent, false, 'reset by retrying() for the new attempt');
});

t.test('a retryable status on a routed request is dropped and retried; unrouted or non-replayable ones are used', async (t) => {
  const a = setup({ answers: [0], routed: true });
  a.loop.attempt();
  t.equal(a.loop.responded(503, false, '1'), true, 'retried');
  t.equal(a.decider.asked[0]!.result.status, 503);
  t.equal(a.decider.asked[0]!.info.retryAfter, '1');
  t.same(a.events.slice(0, 2), ['start a', 'end a fail 503'], 'the attempt ended with its status before the decision');
  t.equal(a.host.opened.length, 2);
  a.loop.dispose();

  const b = setup({ answers: [0] }); // no route: only the cluster's default decider, no status retries
  b.loop.attempt();
  t.equal(b.loop.responded(503, false, undefined), false);
  t.equal(b.decider.asked.length, 0);

  const c = setup({ answers: [0], routed: true });
  c.loop.attempt();
  c.host.replayable = false;
  t.equal(c.loop.responded(503, false, undefined), false);

  const d = setup({ answers: [0], routed: true });
  d.loop.attempt();
  t.equal(d.loop.responded(200, true, undefined, 14), true, 'a trailers-only gRPC error is retryable too');
  t.equal(d.decider.asked[0]!.info.grpcStatus, 14);
  d.loop.dispose();
});

t.test('a resend (stale pooled connection, refused stream) is not an attempt', async (t) => {
  const { loop, host, ctx, events } = setup();
  loop.attempt();
  loop.resend('upstream_reset');
  t.equal(ctx.attempts, 1);
  t.equal(host.opened.length, 2);
  t.same(events, ['start a', 'end a fail 0 upstream_reset', 'start b']);
});

t.test('no endpoint: the host fails with no_endpoints and nothing is reported', async (t) => {
  const { loop, host, events } = setup({ endpoints: [] });
  loop.attempt();
  t.equal(host.failedWith[0]!.reason, 'no_endpoints');
  t.same(events, []);
});

t.test('an injected abort is a failed attempt the retry policy can absorb', async (t) => {
  const fault = new FaultInjector({ abort: { status: 503, percentage: 100 } } as never);
  const { loop, host, ctx, decider } = setup({ answers: [0, -1], fault });
  loop.attempt();
  t.equal(ctx.attempts, 2, 'aborted, retried, aborted again');
  t.equal(decider.asked.length, 2);
  t.equal(decider.asked[0]!.result.reason, 'fault_abort');
  t.equal(host.opened.length, 0, 'no upstream was ever opened');
  t.equal(host.failedWith[0]!.reason, 'fault_abort');
});

t.test('the per-try timer fails a slow attempt; a timeout during an injected delay cancels the delay', async (t) => {
  const a = setup({ answers: [-1], perTryMs: 20 });
  a.loop.attempt();
  await sleep(60);
  t.equal(a.host.failedWith.length, 1);
  t.equal(a.host.failedWith[0]!.reason, 'upstream_timeout');
  t.match(a.host.failedWith[0]!.detail, /per-try timeout \(20 ms\)/);
  a.loop.dispose();

  const fault = new FaultInjector({ delay: { fixed: 200, percentage: 100 } } as never);
  const b = setup({ answers: [-1], perTryMs: 20, fault });
  b.loop.attempt();
  t.equal(b.host.delays, 1, 'the host was told to hold the request during the delay');
  await sleep(300);
  t.equal(b.host.failedWith.length, 1, 'timed out during the delay');
  t.equal(b.host.opened.length, 0, 'the delay did not start an attempt afterwards');
  b.loop.dispose();
});

t.test('the deadline caps the attempt timer, and a disarmed timer does nothing', async (t) => {
  const a = setup({ answers: [-1], perTryMs: 5000, deadline: performance.now() + 20 });
  a.loop.attempt();
  await sleep(60);
  t.match(a.host.failedWith[0]?.detail, /before the request deadline/);
  a.loop.dispose();

  const b = setup({ answers: [-1], perTryMs: 20 });
  b.loop.attempt();
  t.equal(b.loop.responded(200, true, undefined), false);
  await sleep(60);
  t.same(b.host.failedWith, [], 'the response head stopped the timer');
  b.loop.dispose();
});
