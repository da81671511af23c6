/**
 * Loading the agent config: from a YAML file, from CLI quick flags, or both
 * (flags override the file). Every problem is reported at once, naming the
 * file (or `flags`), the key path, the value and what was expected — before
 * any port is bound.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { agentConfigSchema, type AgentConfig } from './schema.ts';
import { ConfigError, parseYamlWithSchema, zodIssues } from './yaml-schema.ts';

export function loadConfigFile(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, path: '', line: undefined, value: 'unreadable file', expected: `a readable YAML file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` }]);
  }
  return parseYamlWithSchema(text, file, agentConfigSchema);
}

/** Build a config from a raw object (flags, tests), reporting problems against `source`. */
export function configFromObject(raw: unknown, source = 'flags'): AgentConfig {
  const res = agentConfigSchema.safeParse(raw);
  if (res.success) return res.data;
  throw new ConfigError(zodIssues(res.error, source, raw));
}

/** Read a config file as a plain object (to merge flags into before validation). */
export function readRawConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, path: '', line: undefined, value: 'unreadable file', expected: `a readable YAML file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` }]);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return parseYamlWithSchema(text, file, agentConfigSchema) as never;
  return (doc.toJS() ?? {}) as Record<string, unknown>;
}
