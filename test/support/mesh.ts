/**
 * A real agent pair in the test process: an inbound agent in front of an app,
 * and an outbound agent whose upstream `api` resolves (via a static registry
 * file) to the inbound agent. Everything binds 127.0.0.1 port 0.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import type { AgentTls } from '../../src/agent/tls.ts';
import { buildAgentTls } from '../../src/agent/identity.ts';
import { silentLogger, type Logger } from '../../src/telemetry/log.ts';

export interface MeshPair {
  readonly inbound: RunningAgent;
  readonly outbound: RunningAgent;
  /** The outbound agent's local port for upstream `api`. */
  readonly port: number;
  readonly inboundPort: number;
  readonly registryFile: string;
  stop(): Promise<void>;
}

export interface MeshPairOptions {
  readonly appPort: number;
  readonly protocol?: 'http' | 'tcp';
  readonly log?: Logger;
  readonly tls?: { inbound: AgentTls; outbound: AgentTls };
  /** Real mTLS between the agents, from a fresh local CA in a temp dir (local-ca identity source). */
  readonly mtls?: boolean;
  /** Extra raw config merged into both agents. */
  readonly extra?: Record<string, unknown>;
  readonly outboundExtra?: Record<string, unknown>;
}

export function tempRegistry(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'aim-reg-'));
  const file = join(dir, 'registry.yaml');
  writeFileSync(file, content);
  return file;
}

export async function startMeshPair(o: MeshPairOptions): Promise<MeshPair> {
  const log = o.log ?? silentLogger;
  const protocol = o.protocol ?? 'http';
  const emptyReg = tempRegistry('services: {}\n');
  const mtls = o.tls !== undefined || o.mtls === true;
  const caDir = mkdtempSync(join(tmpdir(), 'aim-ca-'));
  const identity = async (raw: Record<string, unknown>): Promise<AgentTls | undefined> =>
    o.mtls ? buildAgentTls(configFromObject(raw, 'test'), { 'ca-dir': caDir }, log) : undefined;
  const inboundRaw = {
    ...o.extra,
    service: { name: 'api', address: `127.0.0.1:${o.appPort}`, protocol },
    inbound: { listen: '127.0.0.1:0', mtls },
    discovery: { kind: 'static', registry: emptyReg },
    admin: { bind: '127.0.0.1:0' },
  };
  const inbound = await startAgent(configFromObject(inboundRaw, 'test'), { log, tls: o.tls?.inbound ?? await identity(inboundRaw) });
  const inboundPort = inbound.agent.listeners.find((l) => l.name === 'inbound')!.port;
  const registryFile = tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${inboundPort} }\n`);
  const outboundRaw = {
    ...o.extra,
    ...o.outboundExtra,
    service: { name: 'web', address: '127.0.0.1:1', protocol: 'http' },
    inbound: { listen: '127.0.0.1:0', mtls },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', protocol }],
    discovery: { kind: 'static', registry: registryFile },
    admin: { bind: '127.0.0.1:0' },
  };
  const outbound = await startAgent(configFromObject(outboundRaw, 'test'), { log, tls: o.tls?.outbound ?? await identity(outboundRaw) });
  const port = outbound.agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  return {
    inbound, outbound, port, inboundPort, registryFile,
    stop: async () => { await Promise.all([outbound.stop(), inbound.stop()]); },
  };
}
