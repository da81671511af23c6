/**
 * The pod shape the injector reads, and the questions it asks of a pod before
 * injecting: should it (already injected, opted out, namespace not enabled,
 * host network), which mesh service is it, and which port does its app serve.
 *
 * Kubernetes' own types come from kubernetes-models as type-only imports
 * (erased at run time, so the image does not need the package), which makes
 * tsc check every field name the injector writes.
 */
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { isServiceName, parseSwitch } from './annotations.ts';
import { Annotations, PROXY_CONTAINER } from './defaults.ts';

export type PodMeta = NonNullable<IPod['metadata']>;
export interface PodLike {
  metadata?: PodMeta;
  spec: IPodSpec;
}

/** Check the minimum a pod needs for injection; returns a problem or undefined. */
export function checkPodShape(pod: unknown): string | undefined {
  if (pod === null || typeof pod !== 'object') return 'the object is not a Pod';
  const p = pod as { metadata?: unknown; spec?: { containers?: unknown; initContainers?: unknown; volumes?: unknown } };
  if (p.metadata !== undefined && (p.metadata === null || typeof p.metadata !== 'object')) return 'metadata is not an object';
  const spec = p.spec;
  if (spec === null || typeof spec !== 'object') return 'the pod has no spec';
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) return 'the pod has no containers';
  for (const key of ['initContainers', 'volumes'] as const) {
    if (spec[key] !== undefined && spec[key] !== null && !Array.isArray(spec[key])) return `spec.${key} is not a list`;
  }
  const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);
  for (const key of ['containers', 'initContainers', 'volumes'] as const) {
    const list = (spec[key] ?? []) as unknown[];
    if (!list.every(isObject)) return `spec.${key} has an entry that is not an object`;
  }
  for (const c of [...spec.containers, ...((spec.initContainers ?? []) as unknown[])] as { name?: unknown; ports?: unknown }[]) {
    if (c.ports !== undefined && c.ports !== null && (!Array.isArray(c.ports) || !c.ports.every(isObject))) return `container ${String(c.name)}: ports is not a list of objects`;
  }
  const meta = (p.metadata ?? {}) as { annotations?: unknown; labels?: unknown };
  for (const key of ['annotations', 'labels'] as const) {
    const m = meta[key];
    if (m === undefined || m === null) continue;
    if (!isObject(m)) return `metadata.${key} is not a map`;
    for (const [k, v] of Object.entries(m as object)) {
      if (typeof v !== 'string') return `metadata.${key}.${k}: values must be strings (quote it: "${String(v)}")`;
    }
  }
  return undefined;
}

export function annotationsOf(pod: PodLike): Record<string, string> {
  return pod.metadata?.annotations ?? {};
}

/** Is the proxy already in this pod (annotation or container name)? */
export function isInjected(pod: PodLike): boolean {
  if (annotationsOf(pod)[Annotations.injected] !== undefined) return true;
  const named = (cs: readonly IContainer[] | undefined): boolean => (cs ?? []).some((c) => c.name === PROXY_CONTAINER);
  return named(pod.spec.initContainers) || named(pod.spec.containers);
}

export type Decision =
  | { readonly inject: true; readonly warning?: string }
  | { readonly inject: false; readonly reason: string; readonly warning?: string };

/**
 * Whether to inject. The pod annotation wins over the namespace; the webhook
 * knows the namespace's label from which of its two paths the API server called
 * (see the MutatingWebhookConfiguration), and `aim-mesh inject` passes true.
 */
export function decide(pod: PodLike, namespaceEnabled: boolean): Decision {
  if (isInjected(pod)) return { inject: false, reason: 'already injected' };
  const raw = annotationsOf(pod)[Annotations.inject];
  let wanted = namespaceEnabled;
  let warning: string | undefined;
  if (raw !== undefined) {
    const v = parseSwitch(raw);
    if (v === undefined) warning = `${Annotations.inject}: '${raw}' is not enabled or disabled; ignored`;
    else wanted = v;
  }
  if (!wanted) {
    const reason = raw !== undefined && parseSwitch(raw) === false ? 'opted out by annotation' : 'injection not enabled for this pod or namespace';
    return warning === undefined ? { inject: false, reason } : { inject: false, reason, warning };
  }
  if (pod.spec.hostNetwork === true) {
    return { inject: false, reason: 'host network', warning: 'pods with hostNetwork: true are not injected: the proxy would bind node ports' };
  }
  return warning === undefined ? { inject: true } : { inject: true, warning };
}

/**
 * The mesh service name: the aim-mesh.io/service annotation, else the service
 * account (Consul's convention: the identity is the service account), else the
 * app.kubernetes.io/name or app label. Uses only pod fields, so the webhook and
 * `aim-mesh inject` always agree.
 */
export function serviceNameOf(pod: PodLike): { name: string; from: string } | { error: string } {
  const ann = annotationsOf(pod)[Annotations.service];
  if (ann !== undefined) {
    return isServiceName(ann) ? { name: ann, from: 'annotation' } : { error: `${Annotations.service}: '${ann}' is not a service name (lower-case DNS label)` };
  }
  const sa = pod.spec.serviceAccountName;
  if (sa !== undefined && sa !== '' && sa !== 'default' && isServiceName(sa)) return { name: sa, from: 'service account' };
  const labels = pod.metadata?.labels ?? {};
  for (const key of ['app.kubernetes.io/name', 'app']) {
    const v = labels[key];
    if (v !== undefined && isServiceName(v)) return { name: v, from: `label ${key}` };
  }
  return { error: `cannot tell the service name: set the ${Annotations.service} annotation, a service account, or an app label` };
}

/** The app's port: the aim-mesh.io/service-port annotation (number or port name), else the first containerPort. */
export function appPortOf(pod: PodLike): { port: number | undefined } | { error: string } {
  const ports = pod.spec.containers.flatMap((c) => c.ports ?? []);
  const raw = annotationsOf(pod)[Annotations.servicePort];
  if (raw === undefined) return { port: ports.find((p) => (p.protocol ?? 'TCP') === 'TCP')?.containerPort };
  if (/^\d{1,5}$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 65535) return { port: Number(raw) };
  const named = ports.find((p) => p.name === raw);
  if (named) return { port: named.containerPort };
  return { error: `${Annotations.servicePort}: '${raw}' is neither a port number nor the name of a containerPort` };
}
