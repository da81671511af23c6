/**
 * Process state: readiness (what is still missing), liveness, server info.
 * /ready is what load balancers, Kubernetes and the Consul TTL check use to
 * decide whether to send traffic here; its body says why not.
 */
import { version } from '../../version.ts';
import type { AdminHandler } from '../routes.ts';

export const ready: AdminHandler = (_r, { agent }) => {
  const missing = agent.notReady();
  return missing.length === 0 ? { status: 200, body: { ready: true } } : { status: 503, body: { ready: false, missing } };
};

export const live: AdminHandler = () => ({ status: 200, body: { live: true } });

export const serverInfo: AdminHandler = (_r, { agent }) => {
  const missing = agent.notReady();
  return {
    status: 200,
    body: {
      version,
      node: agent.config.node,
      service: agent.config.service.name,
      uptime_s: Math.round((Date.now() - agent.startedAt) / 1000),
      started_at: new Date(agent.startedAt).toISOString(),
      state: agent.draining ? 'draining' : missing.length === 0 ? 'live' : 'starting',
      healthcheck_failed: agent.healthcheckFailed,
      log_level: agent.log.level,
      pid: process.pid,
      node_version: process.version,
    },
  };
};
