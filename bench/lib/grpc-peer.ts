#!/usr/bin/env node
/**
 * The gRPC peer of the grpc scenario: a @grpc/grpc-js server over h2c on
 * loopback, one process, with one unary method the harness calls through
 * every target. Run as its own tracked process (targets/grpc-backend.ts):
 *
 *   node bench/lib/grpc-peer.ts --port N
 *
 * The messages are protobuf bytes built by hand (grpc.ts), passed through
 * identity (de)serializers, so the peer needs no .proto at run time; grpc-js
 * still does all of gRPC's HTTP/2 work (framing, metadata, grpc-status in
 * trailers). It checks every request is the exact message the harness sends
 * and answers INVALID_ARGUMENT otherwise, so a proxy that mangled a body
 * shows up as errors, not as speed.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { GRPC_METHOD, GRPC_REQUEST, GRPC_RESPONSE } from './grpc.ts';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(values.port);
if (!(port > 0)) {
  process.stderr.write('usage: node bench/lib/grpc-peer.ts --port N\n');
  process.exit(2);
}

const same = (b: Buffer): Buffer => b;
const service: grpc.ServiceDefinition = {
  Unary: {
    path: GRPC_METHOD, requestStream: false, responseStream: false,
    requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same,
  },
};

let calls = 0;
let rejected = 0;
const server = new grpc.Server();
server.addService(service, {
  Unary(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) {
    calls++;
    if (!call.request.equals(GRPC_REQUEST)) {
      rejected++;
      cb({ code: grpc.status.INVALID_ARGUMENT, details: `unexpected request of ${call.request.length} bytes` });
      return;
    }
    cb(null, GRPC_RESPONSE);
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`grpc-peer: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`grpc-peer listening on 127.0.0.1:${port} (${GRPC_METHOD})\n`);
});
process.once('SIGTERM', () => {
  process.stdout.write(`grpc-peer: ${calls} calls, ${rejected} rejected\n`);
  server.forceShutdown();
  process.exit(0);
});
