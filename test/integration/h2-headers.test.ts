/**
 * Pure checks of HTTP/2 request-head validation and header conversion
 * (src/proxy/h2/headers.ts): what is refused, with which reason, and what is
 * forwarded.
 */
import t from 'tap';
import { ProxyError } from '../../src/core/errors.ts';
import { downstreamHeaders, isGrpcContentType, parseH2RequestHead, upstreamRequestHeaders } from '../../src/proxy/h2/headers.ts';

const base = [':method', 'GET', ':scheme', 'http', ':path', '/p?q=1', ':authority', 'api.local'];

function reasonOf(raw: string[], maxUrl = 8192): string {
  try { parseH2RequestHead(raw, maxUrl); return 'ok'; } catch (e) { return (e as ProxyError).reason; }
}

t.test('a well-formed head', async (t) => {
  const h = parseH2RequestHead([...base, 'x-a', '1', 'x-a', '2', 'te', 'trailers', 'content-type', 'application/grpc'], 8192);
  t.same({ method: h.method, scheme: h.scheme, path: h.path, authority: h.authority, te: h.teTrailers }, { method: 'GET', scheme: 'http', path: '/p?q=1', authority: 'api.local', te: true });
  t.same(h.headers, ['x-a', '1', 'x-a', '2', 'content-type', 'application/grpc'], 'regular fields, te kept aside');
  const out = upstreamRequestHeaders(h, h.headers);
  t.same(out, { ':method': 'GET', ':scheme': 'http', ':path': '/p?q=1', ':authority': 'api.local', 'x-a': ['1', '2'], 'content-type': 'application/grpc', te: 'trailers' });
  t.equal(parseH2RequestHead([':method', 'OPTIONS', ':scheme', 'http', ':path', '*', 'host', 'h'], 100).authority, 'h', 'host stands in for :authority; OPTIONS *');
});

t.test('refused heads and their reasons', async (t) => {
  t.equal(reasonOf([':method', 'CONNECT', ':authority', 'evil:443']), 'not_an_open_proxy');
  t.equal(reasonOf([':method', 'GET', ':scheme', 'http', ':path', 'http://evil/']), 'not_an_open_proxy', 'absolute form');
  t.equal(reasonOf([':method', 'GET', ':scheme', 'http', ':path', '*']), 'not_an_open_proxy', '* only with OPTIONS');
  t.equal(reasonOf([':scheme', 'http', ':path', '/']), 'bad_request', 'no :method');
  t.equal(reasonOf([':method', 'GET', ':path', '/']), 'bad_request', 'no :scheme');
  t.equal(reasonOf([':method', 'GET', ':scheme', 'http']), 'bad_request', 'no :path');
  t.equal(reasonOf([...base, ':protocol', 'websocket']), 'bad_request', 'extended CONNECT pseudo-header not offered');
  t.equal(reasonOf([...base, ':status', '200']), 'bad_request', 'response pseudo-header in a request');
  for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']) {
    t.equal(reasonOf([...base, name, 'x']), 'bad_request', `${name} refused`);
  }
  t.equal(reasonOf([...base, 'te', 'gzip']), 'bad_request', 'te other than trailers');
  t.equal(reasonOf([...base, 'host', 'other.local']), 'bad_request', 'host disagrees with :authority');
  t.equal(reasonOf([...base, 'host', 'api.local']), 'ok', 'host agreeing with :authority');
  t.equal(reasonOf([...base, 'host', 'a', 'host', 'a']), 'bad_request', 'two host fields');
  t.equal(reasonOf(base, 5), 'uri_too_long');
});

t.test('response and trailer headers for downstream', async (t) => {
  const h = { ':status': 200, 'content-type': 'text/plain', connection: 'close', 'keep-alive': '5', 'x-k': ['a', 'b'], te: 'trailers' } as never;
  t.same(downstreamHeaders(h, true), { ':status': 200, 'content-type': 'text/plain', 'x-k': ['a', 'b'] });
  t.same(downstreamHeaders({ ':status': 200, 'grpc-status': '0' } as never, false), { 'grpc-status': '0' }, 'trailers carry no pseudo-headers');
  t.ok(isGrpcContentType('application/grpc'));
  t.ok(isGrpcContentType('application/grpc+proto'));
  t.notOk(isGrpcContentType('application/json'));
  t.notOk(isGrpcContentType(undefined));
});
