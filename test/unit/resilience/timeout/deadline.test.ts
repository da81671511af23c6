import t from 'tap';
import fc from 'fast-check';
import { attemptDeadline, attemptTimeoutIsFinal, connectDeadline, deadlineFor, grpcTimeoutHeader, idleExpired, remaining, requestDeadline } from '../../../../src/resilience/timeout/deadline.ts';
import { formatGrpcTimeout, parseGrpcTimeout } from '../../../../src/resilience/timeout/grpc-timeout.ts';
import { ctx } from '../../balancer/fixtures.ts';

t.test('grpc-timeout parsing', async (t) => {
  t.equal(parseGrpcTimeout('1H'), 3_600_000);
  t.equal(parseGrpcTimeout('2M'), 120_000);
  t.equal(parseGrpcTimeout('5S'), 5000);
  t.equal(parseGrpcTimeout('250m'), 250);
  t.equal(parseGrpcTimeout('1500u'), 1.5);
  t.equal(parseGrpcTimeout('2000000n'), 2);
  t.equal(parseGrpcTimeout('99999999S'), 99_999_999_000, '8 digits is the maximum');
  t.equal(parseGrpcTimeout('0m'), 0);
  for (const bad of ['', 'S', '5', '5s', '5X', '123456789S', '-5S', '5.5S', ' 5S', '5 S', 'ten S']) t.equal(parseGrpcTimeout(bad), -1, JSON.stringify(bad));
});

t.test('grpc-timeout formatting rounds up and round-trips', async (t) => {
  t.equal(formatGrpcTimeout(250), '250m');
  t.equal(formatGrpcTimeout(1.5), '1500u');
  t.equal(formatGrpcTimeout(99.0001), '99001u');
  t.equal(formatGrpcTimeout(0), '1n');
  t.equal(formatGrpcTimeout(-5), '1n');
  t.equal(formatGrpcTimeout(100_000_000), '100000S');
  t.equal(formatGrpcTimeout(99_999_999), '99999999m');
  t.equal(formatGrpcTimeout(1e12), '16666667M');
  t.equal(formatGrpcTimeout(1e14), '27777778H');
  t.equal(formatGrpcTimeout(1e20), '99999999H');
  fc.assert(fc.property(fc.double({ min: 0.001, max: 1e12, noNaN: true }), (ms) => {
    const s = formatGrpcTimeout(ms);
    const back = parseGrpcTimeout(s);
    return /^\d{1,8}[HMSmun]$/.test(s) && back >= ms - 1e-9;
  }), { numRuns: 1000 });
});

t.test('deadlines nest: request ⊇ attempt ⊇ connect', async (t) => {
  t.equal(requestDeadline(1000, 5000, -1), 6000);
  t.equal(requestDeadline(1000, 0, -1), Infinity, '0 = no timeout');
  t.equal(requestDeadline(1000, 5000, 2000), 3000, 'grpc-timeout tightens');
  t.equal(requestDeadline(1000, 5000, 9000), 6000, 'and never loosens');
  t.equal(requestDeadline(1000, 0, 9000), 10_000, 'grpc-timeout alone');
  t.equal(attemptDeadline(2000, 6000, 1000), 3000);
  t.equal(attemptDeadline(5500, 6000, 1000), 6000, 'per-try never exceeds the overall');
  t.equal(attemptDeadline(2000, 6000, 0), 6000);
  t.equal(connectDeadline(2000, 3000, 500), 2500);
  t.equal(connectDeadline(2000, 3000, 5000), 3000);
  t.equal(connectDeadline(2000, 3000, 0), 3000);
  t.equal(remaining(2500, 3000), 500);
  t.equal(remaining(2500, Infinity), Infinity);
  t.notOk(attemptTimeoutIsFinal(3000, 6000), 'per-try timeout: time left');
  t.ok(attemptTimeoutIsFinal(6000, 6000), 'the overall deadline');
  t.ok(idleExpired(0, 1000, 1000));
  t.notOk(idleExpired(0, 999, 1000));
  t.notOk(idleExpired(0, 1e9, 0), '0 = no idle timeout');
  t.equal(grpcTimeoutHeader(1000, 1250), '250m');
  t.equal(grpcTimeoutHeader(1000, Infinity), undefined);
  fc.assert(fc.property(fc.nat(1e6), fc.nat(1e6), fc.nat(1e6), fc.integer({ min: -1, max: 1e6 }), fc.nat(1e6), (start, req, perTry, grpc, conn) => {
    const r = requestDeadline(start, req, grpc);
    const a = attemptDeadline(start, r, perTry);
    const c = connectDeadline(start, a, conn);
    return c <= a && a <= r && (req === 0 || r <= start + req) && (grpc < 0 || r <= start + grpc);
  }));
});

t.test('deadlineFor reads grpc-timeout only from gRPC requests', async (t) => {
  t.equal(deadlineFor(ctx({ startedAt: 100, grpc: true, headers: ['grpc-timeout', '50m'] }), 1000), 150);
  t.equal(deadlineFor(ctx({ startedAt: 100, grpc: false, headers: ['grpc-timeout', '50m'] }), 1000), 1100);
  t.equal(deadlineFor(ctx({ startedAt: 100, grpc: true, headers: ['grpc-timeout', 'bogus'] }), 1000), 1100, 'malformed → ignored');
  t.equal(deadlineFor(ctx({ startedAt: 100, grpc: true }), 0), Infinity);
});
