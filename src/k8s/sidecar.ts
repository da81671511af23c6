/**
 * The injected proxy container: `aim-mesh agent` with the quick flags, as a
 * native sidecar (init container, restartPolicy: Always). See lifecycle.ts for
 * start and stop, identity.ts for certificates.
 *
 * It runs as the fixed PROXY_UID (which redirect-traffic's owner match
 * excludes), with a read-only root filesystem and no capabilities.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { PodOptions } from './annotations.ts';
import type { InjectorConfig } from './config.ts';
import { PROXY_CONTAINER } from './defaults.ts';
import type { IdentityParts } from './identity.ts';
import { downwardEnv } from './identity.ts';
import { proxyLifecycle, startupProbe } from './lifecycle.ts';

export interface ProxyPlan {
  readonly service: string;
  /** The app's port on loopback; undefined = outbound only (no inbound listener). */
  readonly appPort: number | undefined;
  readonly options: PodOptions;
  readonly transparent: boolean;
  readonly drainSeconds: number;
  readonly identity: IdentityParts;
}

/** The agent's command line (after the image's `aim-mesh` entrypoint). */
export function agentArgs(cfg: InjectorConfig, plan: ProxyPlan): string[] {
  const opaque = new Set(plan.options.opaquePorts);
  const args = ['agent', '--service', plan.service];
  if (plan.appPort !== undefined) {
    args.push('--service-addr', `127.0.0.1:${plan.appPort}`, '--listen', `0.0.0.0:${cfg.ports.inbound}`);
    if (opaque.has(plan.appPort)) args.push('--service-protocol', 'tcp');
  }
  // An upstream whose local port is listed in aim-mesh.io/opaque-ports is carried as opaque TCP.
  for (const u of plan.options.upstreams) args.push('--upstream', `${u.name}:${u.port}${opaque.has(u.port) ? '/tcp' : ''}`);
  args.push('--admin-bind', `127.0.0.1:${cfg.ports.admin}`);
  args.push(...plan.identity.args);
  if (cfg.consul.enabled) args.push('--discovery', 'consul', '--consul-addr', cfg.consul.address);
  if (plan.transparent) args.push('--transparent', '--outbound-port', String(cfg.ports.outbound));
  args.push('--drain-timeout', `${plan.drainSeconds}s`, '--log-level', cfg.logLevel);
  return args;
}

function proxyEnv(cfg: InjectorConfig, plan: ProxyPlan): IEnvVar[] {
  const env = [...downwardEnv(cfg, plan.service), ...plan.identity.env];
  // The whole list, for transparent mode's captured destinations (see issue 9).
  if (plan.options.opaquePorts.length > 0) env.push({ name: 'AIM_MESH_OPAQUE_PORTS', value: plan.options.opaquePorts.join(',') });
  if (cfg.consul.enabled && cfg.consul.tokenSecret !== '') {
    env.push({ name: 'CONSUL_HTTP_TOKEN', valueFrom: { secretKeyRef: { name: cfg.consul.tokenSecret, key: cfg.consul.tokenSecretKey, optional: true } } });
  }
  return env;
}

export function proxyContainer(cfg: InjectorConfig, plan: ProxyPlan): IContainer {
  return {
    name: PROXY_CONTAINER,
    image: cfg.image,
    imagePullPolicy: cfg.imagePullPolicy,
    restartPolicy: 'Always',
    args: agentArgs(cfg, plan),
    ...(plan.appPort !== undefined ? { ports: [{ name: 'aim-mesh-in', containerPort: cfg.ports.inbound, protocol: 'TCP' }] } : {}),
    env: proxyEnv(cfg, plan),
    startupProbe: startupProbe(cfg.ports.admin),
    lifecycle: proxyLifecycle(cfg.ports.admin),
    resources: { requests: { ...cfg.resources.requests }, limits: { ...cfg.resources.limits } },
    securityContext: {
      runAsUser: cfg.proxyUid,
      runAsGroup: cfg.proxyGid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: plan.identity.mounts,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}
