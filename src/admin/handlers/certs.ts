/**
 * /certs: the workload identity. The identity wiring sets `agent.certsInfo`
 * (for the identity sources: `() => source.describe()`, which never holds
 * key material); redaction runs anyway, as a second line of defence.
 */
import { redact } from '../redact.ts';
import type { AdminHandler } from '../routes.ts';

export const certs: AdminHandler = (_r, { agent }) => {
  const info = agent.certsInfo?.();
  if (info === undefined) {
    return { status: 200, body: { identity: null, detail: agent.config.inbound.mtls ? 'identity is not wired into this agent yet' : 'inbound.mtls is off: the agent has no workload identity' } };
  }
  return { status: 200, body: { identity: redact(info) } };
};
