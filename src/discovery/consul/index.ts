/**
 * Consul discovery for the agent process: one factory that builds the client,
 * the resolver and (when the agent has a service to register) the
 * registration with its app probe.
 *
 *   const consul = createConsulDiscovery({ consul: cfg.consul, registration: registrationSpecFromConfig(cfg) }, log);
 *   await consul.registration?.start();        // before listeners accept? after: see README
 *   resolver = consul.resolver;                // Resolver for every upstream
 *   ...
 *   await consul.registration?.stop();         // on shutdown, before listeners close
 *   await consul.close();
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../../telemetry/log.ts';
import { silentLogger } from '../../telemetry/log.ts';
import { ConsulClient } from './client.ts';
import { consulBaseUrl, type ConsulSection } from './options.ts';
import { createProbe, type Probe } from './probe.ts';
import { ConsulRegistration } from './registration.ts';
import type { RegistrationSpec } from './registration-body.ts';
import { ConsulResolver } from './resolver.ts';
import { TokenSource } from './token.ts';

export { consulSectionSchema, consulDefaults, type ConsulSection } from './options.ts';
export { ConsulApiError, parsePermissionDenied } from './errors.ts';
export type { RegistrationSpec } from './registration-body.ts';
export { ConsulResolver } from './resolver.ts';
export { ConsulRegistration } from './registration.ts';

export interface ConsulDiscoveryOptions {
  readonly consul: ConsulSection;
  /** What to register; omit (or consul.register: false) for discovery only. */
  readonly registration?: RegistrationSpec | undefined;
  /** Override the configured app probe (tests, embedders). */
  readonly probe?: Probe;
  /** Connect trust domain, to fill EndpointSpec.identity. */
  readonly trustDomain?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ConsulDiscovery {
  readonly client: ConsulClient;
  readonly resolver: ConsulResolver;
  readonly registration: ConsulRegistration | undefined;
  /** Build the registration later, e.g. once the listeners know their bound ports (undefined when consul.register is off). */
  register(spec: RegistrationSpec, failing?: () => string | undefined): ConsulRegistration | undefined;
  /** Stops the resolver's watches and closes the HTTP clients (does not deregister: call registration.stop() first). */
  close(): Promise<void>;
}

export function createConsulDiscovery(opts: ConsulDiscoveryOptions, logger?: Logger): ConsulDiscovery {
  const c = opts.consul;
  const log = (logger ?? silentLogger).child({ component: 'consul' });
  const token = new TokenSource({ token: c.token, token_file: c.token_file, token_env: c.token_env }, opts.env);
  const client = new ConsulClient({
    baseUrl: consulBaseUrl(c),
    token,
    caPem: c.ca_file ? readFileSync(c.ca_file, 'utf8') : undefined,
  });
  const resolver = new ConsulResolver({ client, config: c, trustDomain: opts.trustDomain, log: log.child({ part: 'discovery' }) });
  let closeProbe = (): void => {};
  const register = (spec: RegistrationSpec, failing?: () => string | undefined): ConsulRegistration | undefined => {
    if (!c.register) return undefined;
    let probe = opts.probe;
    if (!probe) {
      const p = createProbe(c.check.probe, { host: localTarget(spec.service.address), port: spec.service.port });
      probe = p.probe;
      closeProbe = p.close;
    }
    if (failing !== undefined) {
      // An operator override (admin POST /healthcheck/fail) wins over the app probe.
      const inner = probe;
      probe = async () => {
        const why = failing();
        return why === undefined ? inner() : { status: 'critical', output: why };
      };
    }
    return new ConsulRegistration({
      client, spec, check: c.check, probe, deregisterOnShutdown: c.deregister_on_shutdown,
      log: log.child({ part: 'registration' }),
    });
  };
  const registration = opts.registration ? register(opts.registration) : undefined;
  return {
    client,
    resolver,
    registration,
    register,
    async close() {
      await resolver.close();
      closeProbe();
      await client.close();
    },
  };
}

/** The agent probes the app locally: a wildcard listen address is probed on loopback. */
function localTarget(address: string): string {
  return address === '0.0.0.0' || address === '' ? '127.0.0.1' : address === '::' ? '::1' : address;
}

/** Build the registration from the agent config's `service`, `inbound` and `upstreams` sections. */
export function registrationSpecFromConfig(cfg: {
  service: { name: string; address: { host: string; port: number }; tags: readonly string[]; meta: Readonly<Record<string, string>>; weight: number };
  inbound: { listen: { host: string; port: number } };
  upstreams: ReadonlyArray<{ name: string; listen: { host: string; port: number } }>;
  consul: Pick<ConsulSection, 'warning_weight' | 'services' | 'datacenter'>;
}, id?: string): RegistrationSpec {
  return {
    service: {
      name: cfg.service.name,
      id,
      address: cfg.service.address.host,
      port: cfg.service.address.port,
      tags: cfg.service.tags,
      meta: cfg.service.meta,
      weight: cfg.service.weight,
      warningWeight: cfg.consul.warning_weight,
    },
    proxy: {
      address: cfg.inbound.listen.host,
      port: cfg.inbound.listen.port,
      upstreams: cfg.upstreams.map((u) => ({
        name: u.name,
        localBindAddress: u.listen.host,
        localBindPort: u.listen.port,
        datacenter: cfg.consul.services[u.name]?.datacenter ?? cfg.consul.datacenter,
      })),
    },
  };
}
