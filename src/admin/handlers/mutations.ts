/**
 * The mutating routes (POST only; loopback or token: enforced by server.ts
 * from the table's `mutates` flag, never here): log level, drain, quit,
 * forced health-check failure, counter reset. Each answers with the state it
 * left behind.
 */
import { isLogLevel, logLevels, setLogLevel } from '../../telemetry/log.ts';
import { resetCounters as reset } from '../../telemetry/metrics.ts';
import type { AdminHandler } from '../routes.ts';

export const logging: AdminHandler = (req, { agent }) => {
  const level = req.url.searchParams.get('level');
  if (level === null || !isLogLevel(level)) {
    return { status: 400, body: { error: 'bad_request', detail: `level must be one of ${logLevels.join(', ')}`, level: agent.log.level } };
  }
  const previous = setLogLevel(agent.log, level);
  return { status: 200, body: { level: agent.log.level, previous } };
};

export const drain: AdminHandler = (_r, { agent }) => {
  void agent.drain();
  return { status: 202, body: { draining: true } };
};

export const quit: AdminHandler = (_r, { quit: q }) => {
  q();
  return { status: 202, body: { quitting: true } };
};

export function healthcheck(fail: boolean): AdminHandler {
  return (_r, { agent }) => {
    agent.healthcheckFailed = fail;
    return { status: 200, body: { healthcheck: fail ? 'failed' : 'ok', ready: agent.notReady().length === 0 } };
  };
}

export const resetCounters: AdminHandler = async (_r, { agent }) => {
  await reset(agent.metrics);
  return { status: 200, body: { reset: true } };
};
