import t from 'tap';
import { parseH2loadOutput } from '../../../bench/lib/h2load-parse.ts';
import { GRPC_REQUEST, GRPC_RESPONSE, GRPC_RESPONSE_FRAME_BYTES, grpcFrame } from '../../../bench/lib/grpc.ts';

// The shape of Debian's h2load 1.52 (-D 2, gRPC unary against a grpc-js server), trimmed of progress lines.
const report = (done: number, s2xx: number, data: number) => `starting benchmark...
Application protocol: h2c

finished in 2.00s, ${done / 2}.00 req/s, 1.48MB/s
requests: ${done} total, ${s2xx} started, ${done} done, ${done} succeeded, 0 failed, 0 errored, 0 timeout
status codes: ${s2xx} 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 2.96MB (3102681) total, 91.25KB (93436) headers (space savings 96.38%), 2.36MB (${data}) data
                     min         max         mean         sd        +/- sd
time for request:      370us     67.11ms      3.42ms      4.71ms    92.84%
`;

t.test('the messages are the protobuf bytes the peer expects', async (t) => {
  t.equal(GRPC_REQUEST.length, 16);
  t.equal(GRPC_RESPONSE.length, 128);
  t.same([...GRPC_RESPONSE.subarray(0, 2)], [0x0a, 126], 'field 1, length-delimited, 126 bytes');
  const f = grpcFrame(GRPC_REQUEST);
  t.same([...f.subarray(0, 5)], [0, 0, 0, 0, 16], 'uncompressed, big-endian length');
  t.equal(GRPC_RESPONSE_FRAME_BYTES, 133);
});

t.test('reads totals; calls in flight at the end carry messages but are not errors', async (t) => {
  const r = parseH2loadOutput(report(18544, 18576, 18576 * 133), 133);
  t.equal(r.requests, 18544);
  t.equal(r.durationSec, 2);
  t.equal(r.requestsPerSec, 9272);
  t.same(r.status, { '2xx': 18576, '3xx': 0, '4xx': 0, '5xx': 0 });
  t.equal(r.headerBytes, 93436);
  t.equal(r.grpcErrors, 0);
  // One call cut off after its headers, before its message: still no error among the 18,544 done.
  t.equal(parseH2loadOutput(report(4516, 4529, 4528 * 133), 133).grpcErrors, 0);
});

t.test('HTTP 200 answers without a message (grpc-status in trailers) are counted as gRPC errors', async (t) => {
  t.equal(parseH2loadOutput(report(1000, 1000, 0), 133).grpcErrors, 1000, 'all trailers-only');
  t.equal(parseH2loadOutput(report(1000, 1000, 900 * 133), 133).grpcErrors, 100);
});

t.test('a report without the totals is refused with the text', async (t) => {
  t.throws(() => parseH2loadOutput('connect() failed\n', 133), /no finished line/);
});
