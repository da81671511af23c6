/**
 * The agent's quick flags (in the style of `consul connect proxy`), mapped
 * onto the config schema so that flags and files share one validation path.
 */
import { parseArgs } from 'node:util';

export const agentFlagSpec = {
  config: { type: 'string', short: 'c' },
  service: { type: 'string' },
  'service-addr': { type: 'string' },
  'service-protocol': { type: 'string' },
  listen: { type: 'string' },
  upstream: { type: 'string', multiple: true },
  registry: { type: 'string' },
  discovery: { type: 'string' },
  coordinator: { type: 'string' },
  workers: { type: 'string' },
  'wait-for-app-port': { type: 'boolean' },
  'consul-addr': { type: 'string' },
  'consul-token': { type: 'string' },
  'admin-bind': { type: 'string' },
  'admin-token': { type: 'string' },
  'log-level': { type: 'string' },
  'access-log': { type: 'boolean' },
  'no-mtls': { type: 'boolean' },
  'drain-timeout': { type: 'string' },
  node: { type: 'string' },
  // Transparent mode (issue 9): the outbound capture listener.
  transparent: { type: 'boolean' },
  'outbound-port': { type: 'string' },
  'transparent-policy': { type: 'string' },
} as const;

export type AgentFlags = ReturnType<typeof parseAgentFlags>;

export function parseAgentFlags(argv: string[]) {
  return parseArgs({ args: argv, options: agentFlagSpec, allowPositionals: false, strict: true }).values;
}

type Raw = Record<string, unknown>;

function section(raw: Raw, key: string): Raw {
  const v = raw[key];
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Raw;
  const s: Raw = {};
  raw[key] = s;
  return s;
}

/** Overlay flags onto a raw config object (from a file, or empty). */
export function applyAgentFlags(raw: Raw, f: AgentFlags): Raw {
  if (f.node !== undefined) raw.node = f.node;
  if (f.service !== undefined) section(raw, 'service').name = f.service;
  if (f['service-addr'] !== undefined) section(raw, 'service').address = f['service-addr'];
  if (f['service-protocol'] !== undefined) section(raw, 'service').protocol = f['service-protocol'];
  if (f.listen !== undefined) section(raw, 'inbound').listen = f.listen;
  if (f['no-mtls']) section(raw, 'inbound').mtls = false;
  if (f.registry !== undefined) { const d = section(raw, 'discovery'); d.kind = 'static'; d.registry = f.registry; }
  if (f.discovery !== undefined) section(raw, 'discovery').kind = f.discovery;
  if (f.coordinator !== undefined) section(raw, 'coordinator').address = f.coordinator;
  if (f.workers !== undefined) raw.workers = /^\d+$/.test(f.workers) ? Number(f.workers) : f.workers;
  if (f['wait-for-app-port']) section(raw, 'service').wait_for_app = true;
  if (f['consul-addr'] !== undefined) { section(raw, 'consul').address = f['consul-addr']; section(raw, 'discovery').kind ??= 'consul'; }
  if (f['consul-token'] !== undefined) section(raw, 'consul').token = f['consul-token'];
  if (f['admin-bind'] !== undefined) section(raw, 'admin').bind = f['admin-bind'];
  if (f['admin-token'] !== undefined) section(raw, 'admin').token = f['admin-token'];
  if (f['log-level'] !== undefined) section(raw, 'log').level = f['log-level'];
  if (f['access-log']) section(section(raw, 'log'), 'access_log').enabled = true;
  if (f['drain-timeout'] !== undefined) raw.drain_timeout = /^\d+$/.test(f['drain-timeout']) ? `${f['drain-timeout']}s` : f['drain-timeout'];
  // Transparent mode: the port is a number (zod reports a bad one with the flag's path).
  if (f.transparent) section(raw, 'transparent').enabled = true;
  if (f['outbound-port'] !== undefined) section(raw, 'transparent').outbound_port = /^\d+$/.test(f['outbound-port']) ? Number(f['outbound-port']) : f['outbound-port'];
  if (f['transparent-policy'] !== undefined) section(raw, 'transparent').policy = f['transparent-policy'];
  if (f.upstream !== undefined) {
    const list = Array.isArray(raw.upstreams) ? (raw.upstreams as Raw[]) : [];
    for (const spec of f.upstream) list.push(upstreamFlag(spec));
    raw.upstreams = list;
  }
  return raw;
}

/** `NAME:LOCAL_PORT` or `NAME:LOCAL_PORT/tcp` (or `NAME:HOST:PORT`). */
export function upstreamFlag(spec: string): Raw {
  const [main, proto] = spec.split('/', 2) as [string, string | undefined];
  const parts = main.split(':');
  const name = parts[0];
  const listen = parts.length === 2 ? `127.0.0.1:${parts[1]}` : parts.slice(1).join(':');
  const out: Raw = { name, listen };
  if (proto !== undefined) out.protocol = proto;
  return out;
}
