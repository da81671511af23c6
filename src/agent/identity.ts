/**
 * Bridge from config + identity flags to the AgentTls the agent needs.
 * (Filled in from the identity area's sources and TLS contexts.)
 */
import type { AgentConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/log.ts';
import type { AgentTls } from './tls.ts';

export async function buildAgentTls(_config: AgentConfig, _flags: Record<string, string>, _log: Logger): Promise<AgentTls> {
  throw new Error('mTLS identity is not wired yet: run with --no-mtls');
}
