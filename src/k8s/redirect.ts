/**
 * The `redirect-traffic` init container, injected only in transparent mode.
 * It runs first, as root with NET_ADMIN and NET_RAW (and nothing else),
 * writes the pod's iptables rules in the pod's network namespace, and exits.
 * Its flags are those of `aim-mesh redirect-traffic`, which mirror
 * `consul connect redirect-traffic`.
 *
 * Left alone (never redirected): the proxy's own UID, the admin port, the
 * kubelet's probe ports when they differ from the service port (the kubelet
 * speaks plaintext and is not a mesh client), and what the pod's
 * aim-mesh.io/exclude-* annotations list.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { PodOptions } from './annotations.ts';
import type { InjectorConfig } from './config.ts';
import { REDIRECT_CONTAINER } from './defaults.ts';
import type { PodLike } from './pod.ts';

/** Ports the kubelet probes on the app containers (named ports resolved). */
export function probePorts(pod: PodLike): number[] {
  const out = new Set<number>();
  for (const c of pod.spec.containers) {
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe] as (IProbe | undefined)[]) {
      const p = probe?.httpGet?.port ?? probe?.tcpSocket?.port ?? probe?.grpc?.port;
      if (typeof p === 'number') out.add(p);
      else if (typeof p === 'string') {
        const named = (c.ports ?? []).find((cp) => cp.name === p);
        if (named) out.add(named.containerPort);
        else if (/^\d+$/.test(p)) out.add(Number(p));
      }
    }
  }
  return [...out].sort((a, b) => a - b);
}

export interface RedirectPlan {
  readonly appPort: number | undefined;
  readonly options: PodOptions;
}

export function redirectArgs(cfg: InjectorConfig, pod: PodLike, plan: RedirectPlan, warnings: string[]): string[] {
  const args = [
    'redirect-traffic',
    '--proxy-uid', String(cfg.proxyUid),
    '--proxy-inbound-port', String(cfg.ports.inbound),
    '--proxy-outbound-port', String(cfg.ports.outbound),
    '--proxy-admin-port', String(cfg.ports.admin),
  ];
  const inbound = new Set<number>(plan.options.excludeInboundPorts);
  for (const p of probePorts(pod)) {
    if (p === plan.appPort) {
      warnings.push(`the kubelet probes the service port ${p}: in transparent mode those probes reach the proxy's inbound listener; serve probes on another port`);
    } else inbound.add(p);
  }
  for (const p of [...inbound].sort((a, b) => a - b)) args.push('--exclude-inbound-port', String(p));
  for (const p of plan.options.excludeOutboundPorts) args.push('--exclude-outbound-port', String(p));
  for (const c of plan.options.excludeOutboundCidrs) args.push('--exclude-outbound-cidr', c);
  for (const u of plan.options.excludeUids) args.push('--exclude-uid', String(u));
  return args;
}

export function redirectContainer(cfg: InjectorConfig, pod: PodLike, plan: RedirectPlan, warnings: string[]): IContainer {
  return {
    name: REDIRECT_CONTAINER,
    image: cfg.image,
    imagePullPolicy: cfg.imagePullPolicy,
    args: redirectArgs(cfg, pod, plan, warnings),
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      // iptables needs a writable /run for its lock file.
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}
