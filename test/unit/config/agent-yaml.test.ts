/**
 * config/agent.yaml is the commented reference of every option: it must
 * parse, every setting it shows must be the default, and every key of the
 * schema's defaults must appear in it.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { loadConfigFile, configFromObject } from '../../../src/config/load.ts';

const file = 'config/agent.yaml';
const example = loadConfigFile(file);
const raw = parseDocument(readFileSync(file, 'utf8'));
// The example's own service and upstream are examples, not defaults.
const defaults = configFromObject({ service: { name: example.service.name, address: '127.0.0.1:8080' }, upstreams: [{ name: 'api', listen: '127.0.0.1:9191' }] }, 'test');

function paths(v: unknown, prefix: string[] = []): string[][] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [prefix];
  const keys = Object.keys(v as object);
  if (keys.length === 2 && keys.includes('host') && keys.includes('port')) return [prefix]; // HOST:PORT strings
  if (keys.length === 0) return [prefix];
  return keys.flatMap((k) => paths((v as Record<string, unknown>)[k], [...prefix, k]));
}

t.test('every value shown in config/agent.yaml is the default', async (t) => {
  const { node: _a, ...ex } = example;
  const { node: _b, ...df } = defaults;
  t.same(ex, df);
});

t.test('every default key is documented in config/agent.yaml', async (t) => {
  const skip = new Set(['node']);
  const missing: string[] = [];
  for (const p of paths(defaults)) {
    if (skip.has(p[0]!)) continue;
    const yamlPath = p[0] === 'upstreams' ? ['upstreams', 0, ...p.slice(2)] : p;
    if (!raw.hasIn(yamlPath)) missing.push(p.join('.'));
  }
  t.same(missing, [], 'keys of the schema missing from config/agent.yaml');
});
