/**
 * The hardening suite's fixture: one real agent (in this process) whose
 * inbound port (plaintext, or mTLS) fronts a byte-recording upstream, with
 * its log lines captured and its /metrics read back, plus the checks every
 * bad-input case shares (the process stays up, no unhandled rejection, the
 * reason is counted).
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import { buildAgentTls } from '../../src/agent/identity.ts';
import { tempRegistry } from '../support/mesh.ts';
import { startRecordingUpstream, type RecordingUpstream, type Reply } from '../support/recording-upstream.ts';

export interface Hardened {
  readonly agent: RunningAgent;
  /** The agent's inbound port (in front of the recording upstream). */
  readonly port: number;
  readonly app: RecordingUpstream;
  /** Captured log lines (JSON). */
  readonly lines: Array<Record<string, unknown>>;
  /** The `response_total` count for a reason on the inbound listener (0 when absent). */
  reasonCount(reason: string): Promise<number>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface HardenedOptions {
  readonly limits?: Record<string, unknown>;
  readonly extra?: Record<string, unknown>;
  readonly reply?: Reply;
  /** mTLS on the inbound port (a fresh local CA). */
  readonly mtls?: boolean;
  readonly caDir?: string;
  readonly logLevel?: string;
}

export async function startHardened(o: HardenedOptions = {}): Promise<Hardened> {
  const app = await startRecordingUpstream(o.reply);
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  const log = pino({ level: o.logLevel ?? 'info' }, sink);
  const raw = {
    service: { name: 'api', address: `127.0.0.1:${app.port}`, protocol: 'http' },
    inbound: { listen: '127.0.0.1:0', mtls: o.mtls === true },
    discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
    admin: { bind: '127.0.0.1:0' },
    drain_timeout: '1s',
    detect: { timeout: '300ms' },
    ...o.extra,
    limits: { ...o.limits },
  };
  const config = configFromObject(raw, 'test');
  const tls = o.mtls ? await buildAgentTls(config, { 'ca-dir': o.caDir ?? mkdtempSync(join(tmpdir(), 'aim-hard-ca-')) }, log) : undefined;
  const agent = await startAgent(config, { log, tls });
  const port = agent.agent.listeners.find((l) => l.name === 'inbound')!.port;
  const metrics = async (): Promise<string> => (await request(`http://127.0.0.1:${agent.adminPort}/metrics`)).body.text();
  return {
    agent, port, app, lines, metrics,
    async reasonCount(reason: string): Promise<number> {
      const text = await metrics();
      let n = 0;
      for (const m of text.matchAll(new RegExp(`^response_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`, 'gm'))) n += Number(m[1]);
      return n;
    },
    async stop() { await agent.stop(); await app.close(); },
  };
}

/** Unhandled rejections and uncaught exceptions seen while a test file runs (the process must stay up). */
export function watchProcess(): { readonly problems: string[] } {
  const problems: string[] = [];
  process.on('unhandledRejection', (r) => { problems.push(`unhandledRejection: ${String(r)}`); });
  process.on('uncaughtExceptionMonitor', (e) => { problems.push(`uncaughtException: ${e.message}`); });
  return { problems };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
