/**
 * The grpc scenario's wire format, shared by the peer (grpc-peer.ts), the
 * open-loop generator (grpc-openloop.ts) and h2load's request file. One unary
 * method; both messages are a protobuf with one `bytes` field, built by hand:
 *
 *   service Bench { rpc Unary (Payload) returns (Payload); }
 *   message Payload { bytes data = 1; }
 *
 * The request carries 16 bytes of message, the response 128 (the size of the
 * small HTTP/1 scenario's body). A gRPC message on the wire is a 5-byte prefix
 * (compressed flag, big-endian length) and the message.
 */
export const GRPC_METHOD = '/bench.Bench/Unary';

/** A protobuf `Payload { data }` whose encoding is exactly `total` bytes (total ≤ 129). */
function payload(total: number, fill: string): Buffer {
  const n = total - 2;
  if (n < 0 || n > 127) throw new RangeError(`payload: ${total} bytes does not fit a one-byte length`);
  const b = Buffer.alloc(total, fill);
  b[0] = 0x0a; // field 1, wire type 2 (length-delimited)
  b[1] = n;
  return b;
}

export const GRPC_REQUEST = payload(16, 'q');
export const GRPC_RESPONSE = payload(128, 'r');

/** A message with its 5-byte gRPC prefix (uncompressed). */
export function grpcFrame(message: Buffer): Buffer {
  const f = Buffer.alloc(5 + message.length);
  f.writeUInt32BE(message.length, 1);
  message.copy(f, 5);
  return f;
}

/** What a successful call's response body is on the wire: the prefixed response. */
export const GRPC_RESPONSE_FRAME_BYTES = 5 + GRPC_RESPONSE.length;
