/**
 * Injection, the one function the webhook and `aim-mesh inject` share: a pod
 * (or pod template) in, a JSON Patch out, plus warnings. Pure: no I/O, no
 * clock, the same input always gives the same patch.
 *
 * The patch adds, and never changes what the user wrote:
 *   metadata.annotations[aim-mesh.io/injected]   (idempotency marker)
 *   spec.initContainers[0..]                     (redirect-traffic if transparent, then the proxy)
 *   spec.volumes[...]                            (identity)
 * The user's own init containers run after the proxy, so they can use the mesh.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import { parsePodOptions } from './annotations.ts';
import type { InjectorConfig } from './config.ts';
import { Annotations } from './defaults.ts';
import { identityParts } from './identity.ts';
import type { JsonPatch } from './json-patch.ts';
import { pointer } from './json-patch.ts';
import { drainSecondsFor } from './lifecycle.ts';
import type { PodLike } from './pod.ts';
import { annotationsOf, appPortOf, checkPodShape, decide, serviceNameOf } from './pod.ts';
import { redirectContainer } from './redirect.ts';
import { proxyContainer } from './sidecar.ts';

export interface InjectionResult {
  /** injected: `patch` adds the proxy. skipped: nothing to do (`reason`). invalid: bad input (`errors`). */
  readonly outcome: 'injected' | 'skipped' | 'invalid';
  readonly reason: string;
  readonly patch: JsonPatch;
  readonly warnings: readonly string[];
  readonly errors: readonly string[];
}

export interface InjectOptions {
  /** The namespace carries aim-mesh.io/inject=enabled (`aim-mesh inject`: always true). */
  readonly namespaceEnabled: boolean;
  /** Written into the aim-mesh.io/injected annotation. */
  readonly version: string;
}

const skipped = (reason: string, warnings: string[]): InjectionResult => ({ outcome: 'skipped', reason, patch: [], warnings, errors: [] });
const invalid = (errors: string[], warnings: string[]): InjectionResult => ({ outcome: 'invalid', reason: errors.join('; '), patch: [], warnings, errors });

/** Plan the injection of one pod. Never throws: a surprise in the input is an invalid-input result. */
export function planInjection(input: unknown, cfg: InjectorConfig, opts: InjectOptions): InjectionResult {
  try {
    return plan(input, cfg, opts);
  } catch (err) {
    return invalid([`cannot read the pod: ${(err as Error).message}`], []);
  }
}

function plan(input: unknown, cfg: InjectorConfig, opts: InjectOptions): InjectionResult {
  const warnings: string[] = [];
  const shape = checkPodShape(input);
  if (shape !== undefined) return invalid([shape], warnings);
  const pod = input as PodLike;

  const decision = decide(pod, opts.namespaceEnabled);
  if (decision.warning !== undefined) warnings.push(decision.warning);
  if (!decision.inject) return skipped(decision.reason, warnings);

  const errors: string[] = [];
  const annotations = annotationsOf(pod);
  const options = parsePodOptions(annotations, errors);
  const service = serviceNameOf(pod);
  if ('error' in service) errors.push(service.error);
  const app = appPortOf(pod);
  if ('error' in app) errors.push(app.error);
  const reserved = [cfg.ports.inbound, cfg.ports.admin, cfg.ports.outbound];
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (reserved.includes(p.containerPort)) errors.push(`container '${c.name}' uses port ${p.containerPort}, which the proxy needs`);
    }
  }
  for (const u of options.upstreams) {
    if (reserved.includes(u.port)) errors.push(`${Annotations.upstreams}: local port ${u.port} is one the proxy needs`);
  }
  if (errors.length > 0 || 'error' in service || 'error' in app) return invalid(errors, warnings);

  const transparent = options.transparent ?? cfg.transparent;
  const identity = identityParts(cfg, service.name, annotations);
  const plan = {
    service: service.name,
    appPort: app.port,
    options,
    transparent,
    drainSeconds: drainSecondsFor(pod.spec.terminationGracePeriodSeconds),
    identity,
  };
  const ours: IContainer[] = [];
  if (transparent) ours.push(redirectContainer(cfg, pod, { appPort: app.port, options }, warnings));
  ours.push(proxyContainer(cfg, plan));

  const taken = new Set([...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name));
  for (const c of ours) if (taken.has(c.name)) errors.push(`the pod already has a container named '${c.name}'`);
  const volumeNames = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  for (const v of identity.volumes) if (volumeNames.has(v.name)) errors.push(`the pod already has a volume named '${v.name}'`);
  if (errors.length > 0) return invalid(errors, warnings);

  return { outcome: 'injected', reason: 'injected', patch: buildPatch(pod, ours, identity.volumes, opts.version), warnings, errors: [] };
}

function buildPatch(pod: PodLike, containers: IContainer[], volumes: unknown[], version: string): JsonPatch {
  const patch: JsonPatch = [];
  const marker = { [Annotations.injected]: version };
  if (pod.metadata == null) patch.push({ op: 'add', path: '/metadata', value: { annotations: marker } });
  else if (pod.metadata.annotations == null) patch.push({ op: 'add', path: '/metadata/annotations', value: marker });
  else patch.push({ op: 'add', path: pointer(['metadata', 'annotations', Annotations.injected]), value: version });

  if (pod.spec.initContainers == null) patch.push({ op: 'add', path: '/spec/initContainers', value: containers });
  else containers.forEach((c, i) => patch.push({ op: 'add', path: `/spec/initContainers/${i}`, value: c }));

  if (pod.spec.volumes == null) patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  else for (const v of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
  return patch;
}
