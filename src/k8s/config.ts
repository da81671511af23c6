/**
 * The injector's configuration: what the webhook and `aim-mesh inject` put
 * into a pod. One typed schema with its defaults, validated once; the Helm
 * chart renders the same keys into a ConfigMap (helm/aim-mesh/templates/injector.yaml).
 *
 * The trust bundle is given as a file (trustBundleFile) and read by
 * loadInjectorConfig, so the pure injection code only ever sees PEM text.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseYamlWithSchema } from '../config/yaml-schema.ts';
import { DEFAULT_PORTS, PROXY_GID, PROXY_UID } from './defaults.ts';

const port = z.number().int().min(1).max(65535);
const quantities = z.record(z.string(), z.union([z.string(), z.number()]).transform(String));
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'HOST:PORT');

export const InjectorConfigSchema = z.strictObject({
  image: z.string().min(1).default('aim-mesh:0.1.0'),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  trustDomain: z.string().regex(/^[a-z0-9._-]{1,255}$/, 'a lower-case trust domain').default('aim.local'),
  datacenter: z.string().regex(/^[A-Za-z0-9._-]{1,63}$/).default('dc1'),
  /**
   * Where the agent gets its certificate. `local-ca` is refused here: it would
   * put the CA's private key into every pod.
   */
  identity: z.enum(['coordinator', 'consul', 'files']).default('coordinator'),
  coordinator: z.strictObject({
    /** gRPC address agents call (`aim-mesh coordinator --listen`). */
    address: hostPort.default('aim-mesh-coordinator.aim-mesh.svc:15010'),
    /** Secret (in the pod's namespace) holding the join token under key `token`. */
    joinTokenSecret: z.string().min(1).default('aim-mesh-join-token'),
  }).prefault({}),
  /** PEM roots agents trust for the coordinator and peers (read from this file). */
  trustBundleFile: z.string().min(1).optional(),
  consul: z.strictObject({
    enabled: z.boolean().default(false),
    /** `$(HOST_IP):8500` reaches a Consul client agent on the node (hostPort). */
    address: z.string().min(1).default('$(HOST_IP):8500'),
    /** Secret (in the pod's namespace) with the ACL token; empty = no token. */
    tokenSecret: z.string().default(''),
    tokenSecretKey: z.string().min(1).default('token'),
  }).prefault({}),
  ports: z.strictObject({
    inbound: port.default(DEFAULT_PORTS.inbound),
    admin: port.default(DEFAULT_PORTS.admin),
    outbound: port.default(DEFAULT_PORTS.outbound),
  }).prefault({}),
  proxyUid: z.number().int().min(1).default(PROXY_UID),
  proxyGid: z.number().int().min(1).default(PROXY_GID),
  /** Transparent mode for pods without the aim-mesh.io/transparent annotation. */
  transparent: z.boolean().default(false),
  resources: z.strictObject({
    requests: quantities.default({ cpu: '50m', memory: '64Mi' }),
    limits: quantities.default({ memory: '256Mi' }),
  }).prefault({}),
  /**
   * `Ignore`: bad input gives an allowed pod, not injected, with a warning.
   * `Fail`: bad input is refused. Must match the webhook's failurePolicy.
   */
  failurePolicy: z.enum(['Ignore', 'Fail']).default('Ignore'),
});

export type InjectorConfigFile = z.infer<typeof InjectorConfigSchema>;

/** The config the pure injection code takes: the file's keys plus the trust bundle text. */
export interface InjectorConfig extends Omit<InjectorConfigFile, 'trustBundleFile'> {
  readonly trustBundlePem: string | undefined;
}

/** Defaults for everything; `overrides` are validated like a file. */
export function injectorConfig(overrides: Record<string, unknown> = {}, trustBundlePem?: string): InjectorConfig {
  const { trustBundleFile: _ignored, ...rest } = InjectorConfigSchema.parse(overrides);
  return { ...rest, trustBundlePem };
}

/** Read and validate an injector config file; errors name the file, key path and expectation. */
export function loadInjectorConfig(file: string | undefined): InjectorConfig {
  const parsed = file === undefined
    ? InjectorConfigSchema.parse({})
    : parseYamlWithSchema(readFileSync(file, 'utf8'), file, InjectorConfigSchema);
  const { trustBundleFile, ...rest } = parsed;
  const trustBundlePem = trustBundleFile === undefined ? undefined : readFileSync(trustBundleFile, 'utf8');
  return { ...rest, trustBundlePem };
}
