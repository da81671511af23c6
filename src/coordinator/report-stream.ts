/**
 * Mesh.Report, server side: one bidirectional stream per agent.
 *
 * The stream is accepted only from a caller with a valid mesh leaf, and every
 * report must name the service of that leaf. Reports are merged into the
 * agent's record (snapshot replaces, delta patches) and stored in the
 * registry; the stream is subscribed to the directive hub after the first
 * report names the agent. When the caller's leaf expires the stream is ended
 * with UNAUTHENTICATED, and the agent reconnects with its renewed leaf.
 * Nothing here persists: after a restart, agents reconnect and resend a
 * snapshot, which is the whole recovery story (soft state).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AgentReport, Directive } from '../proto/types.ts';
import type { AgentRegistry } from './agent-registry.ts';
import type { DirectiveHub } from './directives.ts';
import { mergeReport, reportProblem } from './merge-report.ts';
import type { AgentRecord } from './model.ts';
import type { PeerCheck } from './peer-identity.ts';

export interface ReportStreamDeps {
  readonly replica: string;
  /** Wall clock, ms. */
  readonly now: () => number;
  readonly peer: (call: grpc.ServerDuplexStream<AgentReport, Directive>) => PeerCheck;
  readonly registry: AgentRegistry;
  readonly directives: DirectiveHub;
  /** A record changed (the view needs rebuilding). */
  readonly onChange: () => void;
  readonly onReport?: (r: AgentReport) => void;
  readonly onStream?: (delta: 1 | -1) => void;
  readonly log: Logger;
}

export function reportHandler(deps: ReportStreamDeps): grpc.handleBidiStreamingCall<AgentReport, Directive> {
  return (call) => {
    const check = deps.peer(call);
    if (!check.ok) {
      deps.log.warn({ peer: call.getPeer(), why: check.why }, 'report stream refused');
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: `a valid mesh certificate is required: ${check.why}` });
      return;
    }
    const peer = check.peer;
    const connectedAtMs = deps.now();
    let record: AgentRecord | undefined;
    let unsubscribe: (() => void) | undefined;
    let done = false;
    deps.onStream?.(1);

    const finish = (err?: { code: grpc.status; details: string }): void => {
      if (done) return;
      done = true;
      unsubscribe?.();
      deps.onStream?.(-1);
      if (err) call.emit('error', err);
      else if (!call.writableEnded) call.end();
    };

    call.on('data', (report: AgentReport) => {
      if (done) return;
      const nowMs = deps.now();
      if (nowMs >= peer.notAfterMs) return finish({ code: grpc.status.UNAUTHENTICATED, details: 'client certificate expired; reconnect with the renewed one' });
      const problem = reportProblem(report, peer.id.service);
      if (problem) {
        deps.log.warn({ agent: report.agentId, spiffeId: peer.spiffeId, problem }, 'report refused');
        const code = report.service !== peer.id.service ? grpc.status.PERMISSION_DENIED : grpc.status.INVALID_ARGUMENT;
        return finish({ code, details: problem });
      }
      if (record && record.agentId !== report.agentId) return finish({ code: grpc.status.INVALID_ARGUMENT, details: 'agent_id changed within a stream' });
      deps.onReport?.(report);
      record = mergeReport(record, report, { spiffeId: peer.spiffeId, replica: deps.replica, nowMs, connectedAtMs });
      deps.registry.upsert(record);
      deps.onChange();
      if (!unsubscribe) {
        unsubscribe = deps.directives.subscribe(report.agentId, report.service, (d) => {
          if (!done && !call.destroyed && !call.writableEnded) call.write(d);
        });
        deps.log.info({ agent: report.agentId, service: report.service, spiffeId: peer.spiffeId }, 'agent connected');
      }
    });
    call.on('end', () => finish());
    call.on('error', () => finish());
    call.on('cancelled', () => finish());
    call.on('close', () => finish());
  };
}
