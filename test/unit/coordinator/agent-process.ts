/**
 * A simulated agent as its own process, so tests can SIGKILL it: a real
 * Reporter configured from one JSON argument; prints "connected" once the
 * coordinator's first directive arrives. Not a test file.
 */
import { Reporter } from '../../../src/control/reporter.ts';

const cfg = JSON.parse(process.argv[2]!) as {
  target: string; coordinatorId: string; rootsPem: string[]; keyPem: string; certPem: string;
  service: string; instance: string; intervalMs: number;
};
let said = false;
const r = new Reporter({
  target: cfg.target,
  intervalMs: cfg.intervalMs,
  coordinatorIdentity: { exact: cfg.coordinatorId },
  tls: () => ({ rootsPem: cfg.rootsPem, keyPem: cfg.keyPem, certPem: cfg.certPem }),
  snapshot: () => ({
    agentId: cfg.instance, service: cfg.service, instance: cfg.instance, version: 'v1',
    listeners: [], upstreams: [], edges: [], readiness: { ready: true, reasons: [] },
  }),
  onPolicy: () => { if (!said) { said = true; process.stdout.write('connected\n'); } },
});
r.start();
setInterval(() => {}, 1 << 30);
