/**
 * Pod lifecycle for the injected proxy: when the app may start, and how the
 * proxy stops. One knob, the pod's terminationGracePeriodSeconds, sets the
 * drain deadline; nothing else needs tuning.
 *
 * - Start: the proxy is a native sidecar (an init container with
 *   restartPolicy: Always). The kubelet starts the app containers only after
 *   the sidecar's startupProbe passes, and the probe asks the agent's /ready.
 *   So the agent must NOT wait for the app's port before it reports ready (the
 *   app cannot start before that): the injector never passes --wait-for-app-port.
 * - Stop: the kubelet stops sidecars only after every app container has
 *   exited (Kubernetes >= 1.29), so the app's connections have finished when
 *   the proxy's preStop runs. The preStop asks the agent to drain (POST
 *   /drain), then the kubelet sends SIGTERM, and the agent finishes within
 *   --drain-timeout, which leaves a margin before the kubelet's SIGKILL.
 * - Jobs complete: a sidecar does not keep a pod running once its app
 *   containers have exited.
 *
 * Both hooks run `node -e` inside the proxy image: the admin server listens on
 * loopback only, which an httpGet probe (sent by the kubelet to the pod IP)
 * cannot reach.
 */
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { ILifecycle } from 'kubernetes-models/v1/Lifecycle';
import { DEFAULT_GRACE_SECONDS } from './defaults.ts';

/**
 * The agent's drain deadline for a grace period of `grace` seconds: the grace
 * period less a margin of 10% (at least 1 s, at most 5 s) for logs to flush
 * before SIGKILL. 30 s gives 27 s; 0 gives 0 (no waiting).
 */
export function drainSecondsFor(grace: number | undefined): number {
  const t = grace === undefined || !Number.isFinite(grace) || grace < 0 ? DEFAULT_GRACE_SECONDS : Math.floor(grace);
  const margin = Math.min(5, Math.max(1, Math.ceil(t / 10)));
  return Math.max(0, t - margin);
}

/** A node one-liner that calls the admin API and exits 0 on a 2xx answer, 1 otherwise. */
export function adminCall(adminPort: number, method: 'GET' | 'POST', path: string): string[] {
  const url = `http://127.0.0.1:${adminPort}${path}`;
  return [
    'node', '-e',
    `fetch(${JSON.stringify(url)},{method:${JSON.stringify(method)},signal:AbortSignal.timeout(2000)})` +
      '.then(r=>process.exit(r.ok?0:1),()=>process.exit(1))',
  ];
}

/** Startup probe on /ready: up to 2 minutes (1 s period) for identity and discovery to load. */
export function startupProbe(adminPort: number): IProbe {
  return {
    exec: { command: adminCall(adminPort, 'GET', '/ready') },
    periodSeconds: 1,
    timeoutSeconds: 3,
    failureThreshold: 120,
  };
}

/** preStop: ask the agent to drain; SIGTERM follows and bounds it with --drain-timeout. */
export function proxyLifecycle(adminPort: number): ILifecycle {
  return { preStop: { exec: { command: adminCall(adminPort, 'POST', '/drain') } } };
}
