import t from 'tap';
import { RetryPolicy, grpcStatusOf, isIdempotentMethod, type AttemptOutcome, type RetryOn } from '../../../../src/resilience/retry/policy.ts';
import type { Reason } from '../../../../src/core/errors.ts';
import { ctx } from '../../balancer/fixtures.ts';

function outcome(status: number, reason?: Reason, grpcStatus = -1, requestSent = true): AttemptOutcome {
  return { ok: false, status, reason, latencyMs: 1, grpcStatus, requestSent, retryAfter: undefined };
}

t.test('method safety matrix: methods × bytes sent × Idempotency-Key', async (t) => {
  const p = new RetryPolicy({ attempts: 3, on: ['5xx'] });
  const methods = ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'POST', 'PATCH', 'CONNECT', 'PROPFIND'];
  for (const method of methods) {
    for (const sent of [false, true]) {
      for (const key of [false, true]) {
        const c = ctx({ method, headers: key ? ['idempotency-key', 'k-1'] : ['x-other', '1'] });
        const expected = isIdempotentMethod(method) || !sent || key;
        t.equal(p.safeToRetry(c, sent), expected, `${method} sent=${sent} key=${key}`);
      }
    }
  }
  t.notOk(p.safeToRetry(ctx({ method: 'POST', headers: ['idempotency-key', ''] }), true), 'an empty key does not count');
  t.notOk(isIdempotentMethod('get'), 'methods are case-sensitive (RFC 9110)');
});

t.test('outcome matrix: local failures × retry_on', async (t) => {
  const reasons: Array<[Reason, RetryOn[]]> = [
    ['upstream_connect_failed', ['connect-failure', '5xx', 'gateway-error']],
    ['upstream_connect_timeout', ['connect-failure', '5xx', 'gateway-error']],
    ['upstream_reset', ['reset', '5xx', 'gateway-error']],
    ['upstream_timeout', ['5xx', 'gateway-error']],
    ['upstream_protocol_error', ['5xx', 'gateway-error']],
    ['upstream_tls_identity', []],
    ['no_endpoints', []],
  ];
  const all: RetryOn[] = ['connect-failure', 'reset', '5xx', 'gateway-error'];
  for (const [reason, retryableUnder] of reasons) {
    for (const on of all) {
      const p = new RetryPolicy({ attempts: 2, on: [on] });
      t.equal(p.retryableOutcome(outcome(0, reason)), retryableUnder.includes(on), `${reason} under ${on}`);
    }
  }
});

t.test('outcome matrix: statuses × retry_on, plus listed statuses and grpc codes', async (t) => {
  const statuses = [200, 404, 409, 429, 500, 501, 502, 503, 504, 599];
  const cases: Array<[RetryOn[], number[]]> = [
    [['5xx'], [500, 501, 502, 503, 504, 599]],
    [['gateway-error'], [502, 503, 504]],
    [['connect-failure', 'reset'], []],
  ];
  for (const [on, retryable] of cases) {
    const p = new RetryPolicy({ attempts: 2, on });
    for (const s of statuses) t.equal(p.retryableOutcome(outcome(s)), retryable.includes(s), `${s} under ${on}`);
  }
  const listed = new RetryPolicy({ attempts: 2, on: [], statuses: [409, 429], grpc_codes: [14, 8] });
  t.ok(listed.retryableOutcome(outcome(409)));
  t.ok(listed.retryableOutcome(outcome(429)));
  t.notOk(listed.retryableOutcome(outcome(503)));
  t.ok(listed.retryableOutcome(outcome(200, undefined, 14)), 'grpc UNAVAILABLE');
  t.ok(listed.retryableOutcome(outcome(200, undefined, 8)));
  t.notOk(listed.retryableOutcome(outcome(200, undefined, 13)));
  t.notOk(listed.retryableOutcome(outcome(200, undefined, -1)));
});

t.test('grpc-status parsing and construction checks', async (t) => {
  t.equal(grpcStatusOf(['content-type', 'application/grpc', 'grpc-status', '14']), 14);
  t.equal(grpcStatusOf(['grpc-status', '0']), 0);
  t.equal(grpcStatusOf(['grpc-status', '17']), -1);
  t.equal(grpcStatusOf(['grpc-status', 'x']), -1);
  t.equal(grpcStatusOf(['grpc-status', '']), -1);
  t.equal(grpcStatusOf(['grpc-status', '100']), -1);
  t.equal(grpcStatusOf([]), -1);
  t.throws(() => new RetryPolicy({ attempts: 0, on: [] }), RangeError);
  t.throws(() => new RetryPolicy({ attempts: 1, on: ['often' as RetryOn] }), RangeError);
  t.throws(() => new RetryPolicy({ attempts: 1, on: [], statuses: [99] }), RangeError);
  t.throws(() => new RetryPolicy({ attempts: 1, on: [], grpc_codes: [17] }), RangeError);
  t.equal(new RetryPolicy({ attempts: 4, on: [] }).maxAttempts, 4);
});
