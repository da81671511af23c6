/**
 * What the injected proxy needs for its identity, per source: volumes, mounts,
 * environment and agent flags. The downward API gives the pod's name,
 * namespace, IPs and service account; the SPIFFE ID is built from them with
 * Kubernetes' $(VAR) expansion, so it is right even for pods created from a
 * template whose namespace is not known at injection time.
 *
 * - coordinator: CSR to the coordinator; the bootstrap credential is a join
 *   token from a Secret in the pod's namespace (optional: the agent says what
 *   is missing on /ready), and the trust bundle comes inline as an env var.
 * - consul: leaf and roots from the local Consul agent's Connect CA.
 * - files: tls.crt / tls.key / ca.crt from a Secret (cert-manager, Vault),
 *   mounted read-only into the proxy container only (default mode 0644: the
 *   proxy's UID is not the files' owner).
 * Every source gets an in-memory emptyDir for key material the agent writes.
 */
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import type { InjectorConfig } from './config.ts';
import { Annotations, IDENTITY_DIR, IDENTITY_VOLUME, TLS_DIR, TLS_VOLUME } from './defaults.ts';

export interface IdentityParts {
  readonly volumes: IVolume[];
  readonly mounts: IVolumeMount[];
  readonly env: IEnvVar[];
  readonly args: string[];
}

const field = (name: string, fieldPath: string): IEnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** Downward-API env every injected proxy gets; AIM_MESH_SPIFFE_ID refers to them. */
export function downwardEnv(cfg: InjectorConfig, service: string): IEnvVar[] {
  return [
    field('POD_NAME', 'metadata.name'),
    field('POD_NAMESPACE', 'metadata.namespace'),
    field('POD_IP', 'status.podIP'),
    field('HOST_IP', 'status.hostIP'),
    field('POD_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'AIM_MESH_SERVICE', value: service },
    { name: 'AIM_MESH_SPIFFE_ID', value: `spiffe://${cfg.trustDomain}/ns/$(POD_NAMESPACE)/dc/${cfg.datacenter}/svc/${service}` },
  ];
}

export function identityParts(cfg: InjectorConfig, service: string, annotations: Readonly<Record<string, string>>): IdentityParts {
  const volumes: IVolume[] = [{ name: IDENTITY_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }];
  const mounts: IVolumeMount[] = [{ name: IDENTITY_VOLUME, mountPath: IDENTITY_DIR }];
  const env: IEnvVar[] = [{ name: 'AIM_MESH_IDENTITY_DIR', value: IDENTITY_DIR }];
  const args: string[] = ['--identity', cfg.identity, '--trust-domain', cfg.trustDomain];
  switch (cfg.identity) {
    case 'coordinator':
      args.push('--coordinator', cfg.coordinator.address);
      env.push({ name: 'AIM_MESH_JOIN_TOKEN', valueFrom: { secretKeyRef: { name: cfg.coordinator.joinTokenSecret, key: 'token', optional: true } } });
      if (cfg.trustBundlePem !== undefined) env.push({ name: 'AIM_MESH_TRUST_BUNDLE', value: cfg.trustBundlePem });
      break;
    case 'consul':
      break;
    case 'files': {
      const secretName = annotations[Annotations.identitySecret] ?? `${service}-aim-mesh-tls`;
      volumes.push({ name: TLS_VOLUME, secret: { secretName } });
      mounts.push({ name: TLS_VOLUME, mountPath: TLS_DIR, readOnly: true });
      args.push('--cert', `${TLS_DIR}/tls.crt`, '--key', `${TLS_DIR}/tls.key`, '--ca', `${TLS_DIR}/ca.crt`);
      break;
    }
  }
  return { volumes, mounts, env, args };
}
