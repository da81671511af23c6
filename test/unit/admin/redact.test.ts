/** /config_dump redaction: secret keys, PEM private keys anywhere, URL credentials; paths to secrets stay. */
import t from 'tap';
import { REDACTED, redact } from '../../../src/admin/redact.ts';
import { agentConfigSchema } from '../../../src/config/schema.ts';

t.test('secrets are replaced, the rest is kept', async (t) => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n';
  const out = redact({
    admin: { bind: { host: '0.0.0.0', port: 19000 }, token: 's3cret' },
    consul: { address: 'http://127.0.0.1:8500', token: 'acl-token', token_file: '/etc/consul/token', acl_token: 'x' },
    identity: { key: pem, key_path: '/etc/aim/key.pem', cert: '-----BEGIN CERTIFICATE-----\nMII\n' },
    rate_limit: { redis: { url: 'redis://user:pass@redis:6379/0', key_prefix: 'aim-mesh:rl' } },
    list: [{ password: 'p' }, 'plain', { note: pem }],
    empty: { token: '' },
  }) as Record<string, Record<string, unknown>>;
  t.equal((out['admin']!['token']), REDACTED);
  t.same(out['admin']!['bind'], { host: '0.0.0.0', port: 19000 });
  t.same(out['consul'], { address: 'http://127.0.0.1:8500', token: REDACTED, token_file: '/etc/consul/token', acl_token: REDACTED });
  t.same(out['identity'], { key: REDACTED, key_path: '/etc/aim/key.pem', cert: '-----BEGIN CERTIFICATE-----\nMII\n' });
  t.same(out['rate_limit'], { redis: { url: `redis://${REDACTED}@redis:6379/0`, key_prefix: 'aim-mesh:rl' } });
  t.same(out['list'], [{ password: REDACTED }, 'plain', { note: REDACTED }]);
  t.same(out['empty'], { token: '' }, 'an empty value reveals nothing');
});

t.test('a full agent config with a token dumps without it', async (t) => {
  const cfg = agentConfigSchema.parse({ service: { name: 'web', address: '127.0.0.1:8080' }, admin: { bind: '0.0.0.0:19000', token: 'tok-123456' } });
  const text = JSON.stringify(redact(cfg));
  t.notMatch(text, /tok-123456/);
  t.match(text, /"service":\{"name":"web"/);
});
