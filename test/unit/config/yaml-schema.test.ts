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
