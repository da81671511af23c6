/**
 * Pure checks of the gRPC rescue: grpc-message percent-encoding and the
 * status each reason maps to.
 */
import t from 'tap';
import { encodeGrpcMessage, grpcErrorTrailers } from '../../src/proxy/h2/rescue.ts';
import { GrpcCode, ProxyError } from '../../src/core/errors.ts';

t.test('grpc-message is percent-encoded; statuses come from the reason catalogue', async (t) => {
  t.equal(encodeGrpcMessage('plain text: ok'), 'plain text: ok');
  t.equal(encodeGrpcMessage('100%'), '100%25');
  t.equal(encodeGrpcMessage('line\nbreak'), 'line%0Abreak');
  t.equal(encodeGrpcMessage('héllo'), 'h%C3%A9llo');
  t.equal(decodeURIComponent(encodeGrpcMessage('a%b\r\nc é')), 'a%b\r\nc é', 'clients decode it back');
  const tr = grpcErrorTrailers(new ProxyError('no_endpoints', 'no available endpoint for api'));
  t.same(tr, { 'grpc-status': String(GrpcCode.UNAVAILABLE), 'grpc-message': 'no_endpoints: no available endpoint for api', 'x-aim-mesh-error': 'no_endpoints' });
  t.equal(grpcErrorTrailers(new ProxyError('upstream_timeout', 'x'))['grpc-status'], String(GrpcCode.DEADLINE_EXCEEDED));
  t.equal(grpcErrorTrailers(new ProxyError('authz_denied', 'x'))['grpc-status'], String(GrpcCode.PERMISSION_DENIED));
  t.equal(grpcErrorTrailers(new ProxyError('rate_limited', 'x'))['grpc-status'], String(GrpcCode.RESOURCE_EXHAUSTED));
});
