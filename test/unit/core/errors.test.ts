import t from 'tap';
import { ProxyError, Reasons, asProxyError } from '../../../src/core/errors.ts';

t.test('every reason has an HTTP status, a gRPC code and help text', async (t) => {
  for (const [name, spec] of Object.entries(Reasons)) {
    t.ok(spec.status >= 400 && spec.status <= 599, `${name} status`);
    t.ok(Number.isInteger(spec.grpc) && spec.grpc > 0, `${name} grpc`);
    t.ok(spec.help.length > 10, `${name} help`);
  }
});

t.test('ProxyError carries reason, status and cause', async (t) => {
  const cause = new Error('ECONNREFUSED');
  const e = new ProxyError('upstream_connect_failed', '127.0.0.1:1 refused', { cause });
  t.equal(e.reason, 'upstream_connect_failed');
  t.equal(e.status, 503);
  t.equal(e.cause, cause);
  t.equal(asProxyError(e), e);
  const w = asProxyError(new Error('boom'));
  t.equal(w.reason, 'internal_error');
  t.equal(w.detail, 'boom');
});
