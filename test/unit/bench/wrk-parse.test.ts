import t from 'tap';
import { parseWrkOutput, parseWrkSize, parseWrkTime } from '../../../bench/lib/wrk-parse.ts';

// Verbatim shape of Debian wrk 4.1.0 with --latency.
const FULL = `Running 3s test @ http://127.0.0.1:40111/small
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   835.12us  412.50us  12.88ms   91.17%
    Req/Sec    38.61k     1.92k   41.02k    80.00%
  Latency Distribution
     50%  760.00us
     75%    0.92ms
     90%    1.14ms
     99%    2.31ms
  115301 requests in 3.00s, 41.02MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:  38432.91
Transfer/sec:     13.67MB
`;

t.test('parses a full report with latency distribution and errors', async (t) => {
  const r = parseWrkOutput(FULL);
  t.equal(r.requests, 115301);
  t.equal(r.durationSec, 3);
  t.equal(r.bytesRead, 41.02 * 1024 * 1024);
  t.equal(r.requestsPerSec, 38432.91);
  t.equal(r.transferPerSec, 13.67 * 1024 * 1024);
  t.ok(Math.abs(r.latencyMs.avg - 0.83512) < 1e-9);
  t.ok(Math.abs(r.latencyMs.stdev - 0.4125) < 1e-9);
  t.equal(r.latencyMs.max, 12.88);
  t.same(Object.keys(r.distributionMs), ['50', '75', '90', '99']);
  t.ok(Math.abs((r.distributionMs['50'] as number) - 0.76) < 1e-9);
  t.equal(r.distributionMs['99'], 2.31);
  t.same(r.socketErrors, { connect: 0, read: 2, write: 0, timeout: 7 });
  t.equal(r.non2xx3xx, 12);
});

t.test('a clean report without --latency or error lines', async (t) => {
  const r = parseWrkOutput(`Running 1m test @ http://127.0.0.1:8080/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10s   300.00ms   1.00m    70.00%
    Req/Sec   512.00     10.00   600.00     90.00%
  61440 requests in 1.00m, 1.50GB read
Requests/sec:   1024.00
Transfer/sec:     25.60MB
`);
  t.equal(r.durationSec, 60);
  t.equal(r.latencyMs.avg, 2100);
  t.equal(r.latencyMs.max, 60_000);
  t.equal(r.bytesRead, 1.5 * 1024 ** 3);
  t.same(r.distributionMs, {});
  t.same(r.socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 });
  t.equal(r.non2xx3xx, 0);
});

t.test('units', async (t) => {
  t.equal(parseWrkTime('250.00us'), 0.25);
  t.equal(parseWrkTime('3.00ms'), 3);
  t.equal(parseWrkTime('1.5s'), 1500);
  t.equal(parseWrkTime('2.00h'), 7_200_000);
  t.equal(parseWrkSize('512B'), 512);
  t.equal(parseWrkSize('2.00KB'), 2048);
  t.throws(() => parseWrkTime('12 parsecs'), /cannot read time/);
  t.throws(() => parseWrkSize('1.0XB'), /cannot read size/);
});

t.test('output that is not a wrk report is an error naming what is missing', async (t) => {
  t.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused\n'), /no request total/);
});
