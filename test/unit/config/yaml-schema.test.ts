/** Registries and configs may be JSON (a YAML subset, parsed with JSON.parse); errors still name file, line and key. */
import t from 'tap';
import { parseRegistry } from '../../../src/discovery/static/registry-file.ts';
import { ConfigError } from '../../../src/config/yaml-schema.ts';

t.test('a JSON registry is accepted and equals its YAML form', async (t) => {
  const json = parseRegistry('{"services":{"api":{"instances":[{"address":"127.0.0.1","port":21001,"weight":2}]}}}', 'r.json');
  const yaml = parseRegistry('services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: 21001, weight: 2 }\n', 'r.yaml');
  t.same(json, yaml);
});

t.test('a bad JSON registry is explained like a bad YAML one', async (t) => {
  let err: unknown;
  try { parseRegistry('{"services":{"api":{"instances":[{"address":"127.0.0.1","port":"x"}]}}}', 'r.json'); } catch (e) { err = e; }
  t.ok(err instanceof ConfigError);
  t.match((err as ConfigError).message, /r\.json:1: services\.api\.instances\[0\]\.port: expected number/);
});

/** A registry of `n` services as YAML (3 instances each): ~0.75 MB for 4,000 (above the size explained with the yaml Document). */
function bigYaml(n: number, port: string | number = 8080): string {
  const lines = ['services:'];
  for (let i = 0; i < n; i++) {
    lines.push(`  svc-${i}:`, '    instances:');
    for (const k of [1, 2, 3]) lines.push(`      - { address: 10.${(i >> 8) & 255}.${i & 255}.${k}, port: ${i === n - 1 && k === 3 ? port : 8080}, tags: [v1] }`);
  }
  return `${lines.join('\n')}\n`;
}

t.test('YAML read by the fast path (js-yaml) equals the yaml package\'s reading', async (t) => {
  const text = 'services:\n  api:\n    identity: spiffe://aim.local/ns/default/dc/dc1/svc/api\n    virtual_ips: [240.0.0.1]\n    instances:\n'
    + '      - address: 127.0.0.1\n        port: 21001\n        weight: 2\n        tags: [v2, "x y"]\n        meta: { version: "1.0", on: "true" }\n'
    + '      - { address: ::1, port: 0x5209, health: warning }  # a comment\n  "db.x":\n    instances: []\n';
  const { parse } = await import('yaml');
  const { registrySchema } = await import('../../../src/discovery/static/registry-file.ts');
  t.same(parseRegistry(text, 'r.yaml'), registrySchema.parse(parse(text)));
  t.same(parseRegistry('', 'empty.yaml'), { services: {} }, 'an empty file is an empty registry');
  t.same(parseRegistry('{services: {api: {instances: [{address: h, port: 1}]}}}', 'flow.yaml').services.api!.instances[0]!.port, 1, 'a YAML flow mapping that is not JSON');
});

t.test('a big (4,000-service) YAML registry parses; its errors name the file and the key without building the yaml Document', async (t) => {
  const good = parseRegistry(bigYaml(4_000), 'big.yaml');
  t.ok(bigYaml(4_000).length > 512 * 1024);
  t.equal(Object.keys(good.services).length, 4_000);
  let err: unknown;
  try { parseRegistry(bigYaml(4_000, '"x"'), 'big.yaml'); } catch (e) { err = e; }
  t.ok(err instanceof ConfigError);
  t.match((err as ConfigError).message, /^big\.yaml: services\.svc-3999\.instances\[2\]\.port: expected number, received string \(found "x"\)$/, 'schema error: file and key');
  err = undefined;
  try { parseRegistry(`${bigYaml(4_000)}  svc-0:\n    instances: []\n`, 'big.yaml'); } catch (e) { err = e; }
  t.ok(err instanceof ConfigError);
  t.match((err as ConfigError).message, /^big\.yaml:20002: .*duplicated mapping key/, 'syntax error: file and line');
  err = undefined;
  try { parseRegistry(bigYaml(4_000).replace('svc-2000:', 'svc-2000: ]['), 'big.yaml'); } catch (e) { err = e; }
  t.ok(err instanceof ConfigError && /^big\.yaml:\d+: /.test(err.message), `bad YAML: ${(err as Error).message.slice(0, 80)}`);
});

t.test('aliases: resolved within bounds, a bomb is a ConfigError', async (t) => {
  const ok = parseRegistry('services:\n  api:\n    instances:\n      - &i { address: 127.0.0.1, port: 1 }\n  web:\n    instances: [*i]\n', 'a.yaml');
  t.same(ok.services.web!.instances[0]!.port, 1);
  const bomb = `services:\n  a: &a { instances: [{ address: h, port: 1 }] }\n  b: &b [${'*a,'.repeat(20)}*a]\n  c: [${'*b,'.repeat(20)}*b]\n`;
  let err: unknown;
  try { parseRegistry(bomb, 'bomb.yaml'); } catch (e) { err = e; }
  t.ok(err instanceof ConfigError, 'bounded: a ConfigError, not a long walk');
});
