/**
 * The registration payloads (pure): the app service and its sidecar, as
 * Consul's `PUT /v1/agent/service/register` bodies.
 *
 * App service `<name>` (ID `<id>`): address, port, tags, meta, Weights, and a
 * TTL check `<id>:probe` that the agent keeps current from its probe of the app.
 * Sidecar `<name>-sidecar-proxy` (ID `<id>-sidecar-proxy`), `Kind:
 * connect-proxy`, on the agent's public port, `Proxy.DestinationServiceName`
 * = the app, the upstreams, and two checks: a TTL check `<proxy-id>:agent`
 * that proves the agent process is alive, and an alias check `<proxy-id>:app`
 * that mirrors the app service's health — so /v1/health/connect, which shows
 * only the proxy's checks, drops the instance when the app fails too.
 * Both TTL checks carry DeregisterCriticalServiceAfter: an agent killed with
 * SIGKILL stops refreshing them, they go critical, Consul removes both services.
 */
import type { Health } from '../types.ts';
import type { CheckOptions } from './options.ts';

export interface UpstreamSpec {
  readonly name: string;
  readonly localBindAddress: string;
  readonly localBindPort: number;
  readonly datacenter?: string | undefined;
}

export interface RegistrationSpec {
  readonly service: {
    readonly name: string;
    /** Default `<name>-<proxy port>`: unique per host, stable across restarts. */
    readonly id?: string | undefined;
    readonly address: string;
    readonly port: number;
    readonly tags: readonly string[];
    readonly meta: Readonly<Record<string, string>>;
    /** Weights.Passing */
    readonly weight: number;
    /** Weights.Warning */
    readonly warningWeight: number;
  };
  readonly proxy: {
    /** Where other agents reach this agent (public mTLS port). 0.0.0.0/:: = the node's address. */
    readonly address: string;
    readonly port: number;
    readonly upstreams: readonly UpstreamSpec[];
  };
}

export interface RegistrationIds {
  readonly service: string;
  readonly proxy: string;
  readonly probeCheck: string;
  readonly agentCheck: string;
  readonly aliasCheck: string;
}

export function registrationIds(spec: RegistrationSpec): RegistrationIds {
  const service = spec.service.id ?? `${spec.service.name}-${spec.proxy.port}`;
  const proxy = `${service}-sidecar-proxy`;
  return { service, proxy, probeCheck: `${service}:probe`, agentCheck: `${proxy}:agent`, aliasCheck: `${proxy}:app` };
}

/** A Go duration string Consul accepts. */
export function goDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${Math.round(ms)}ms`;
}

/** Consul rejects 0.0.0.0/:: ("Invalid service address"); "" means "use the node's address". */
function advertised(address: string): string {
  return address === '0.0.0.0' || address === '::' || address === '[::]' ? '' : address;
}

export function appServiceBody(spec: RegistrationSpec, check: CheckOptions, initial: { status: Health; output: string }): Record<string, unknown> {
  const ids = registrationIds(spec);
  const s = spec.service;
  return {
    ID: ids.service,
    Name: s.name,
    Address: advertised(s.address),
    Port: s.port,
    Tags: [...s.tags],
    Meta: { ...s.meta },
    Weights: { Passing: s.weight, Warning: s.warningWeight },
    EnableTagOverride: false,
    Checks: [{
      CheckID: ids.probeCheck,
      Name: `aim-mesh probe of ${s.name}`,
      Notes: `Kept current by the aim-mesh agent from its ${check.probe.kind} probe of the app every ${goDuration(check.interval)}.`,
      TTL: goDuration(check.ttl),
      Status: initial.status,
      DeregisterCriticalServiceAfter: goDuration(check.deregister_critical_after),
    }],
  };
}

export function proxyServiceBody(spec: RegistrationSpec, check: CheckOptions): Record<string, unknown> {
  const ids = registrationIds(spec);
  const s = spec.service;
  return {
    Kind: 'connect-proxy',
    ID: ids.proxy,
    Name: `${s.name}-sidecar-proxy`,
    Address: advertised(spec.proxy.address),
    Port: spec.proxy.port,
    Tags: [...s.tags],
    Meta: { ...s.meta },
    Weights: { Passing: s.weight, Warning: s.warningWeight },
    EnableTagOverride: false,
    Proxy: {
      DestinationServiceName: s.name,
      DestinationServiceID: ids.service,
      LocalServiceAddress: s.address === '0.0.0.0' || s.address === '::' ? '127.0.0.1' : s.address,
      LocalServicePort: s.port,
      Upstreams: spec.proxy.upstreams.map((u) => ({
        DestinationType: 'service',
        DestinationName: u.name,
        ...(u.datacenter ? { Datacenter: u.datacenter } : {}),
        LocalBindAddress: u.localBindAddress,
        LocalBindPort: u.localBindPort,
      })),
    },
    Checks: [
      {
        CheckID: ids.agentCheck,
        Name: 'aim-mesh agent',
        Notes: 'TTL check refreshed by the aim-mesh agent process itself.',
        TTL: goDuration(check.ttl),
        Status: 'passing',
        DeregisterCriticalServiceAfter: goDuration(check.deregister_critical_after),
      },
      { CheckID: ids.aliasCheck, Name: `Aliasing ${ids.service}`, AliasService: ids.service },
    ],
  };
}
