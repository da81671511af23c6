/**
 * Build the identity source named by the `identity:` config section.
 * The agent calls this once at startup, then `await source.start()` before
 * binding the mTLS port. The `coordinator` source lives with the coordinator
 * client, so it is passed in rather than imported (the data path never loads
 * gRPC unless that source is chosen).
 */
import type { IdentityLog } from './log.ts';
import type { IdentityOptions } from './options.ts';
import type { ManagedIdentitySource } from './signals.ts';
import { ConsulSource } from './sources/consul.ts';
import { FilesSource } from './sources/files.ts';
import { LocalCaSource } from './sources/local-ca.ts';
import { formatSpiffeId } from './spiffe.ts';

export interface SourceDeps {
  /** The agent's service name (config `service.name`). */
  readonly service: string;
  readonly log?: IdentityLog;
  /** Fallback Consul connection (the agent's top-level Consul settings). */
  readonly consul?: { readonly address: string; readonly token?: string | undefined };
  /** Factory for the coordinator source (required only when identity.source is 'coordinator'). */
  readonly coordinator?: (opts: IdentityOptions, spiffeId: string) => ManagedIdentitySource;
}

/** The agent's own SPIFFE ID for these options. */
export function agentSpiffeId(opts: IdentityOptions, service: string): string {
  return formatSpiffeId({ trustDomain: opts.trust_domain, namespace: opts.namespace, datacenter: opts.datacenter, service });
}

export function createIdentitySource(opts: IdentityOptions, deps: SourceDeps): ManagedIdentitySource {
  const spiffeId = agentSpiffeId(opts, deps.service);
  switch (opts.source) {
    case 'local-ca':
      return new LocalCaSource({
        caDir: opts.ca_dir, spiffeId, ttlMs: opts.leaf_ttl, keyType: opts.key_type, renewFraction: opts.renew_fraction, log: deps.log,
      });
    case 'files':
      return new FilesSource({
        certFile: opts.cert_file!, keyFile: opts.key_file!, caFile: opts.ca_file!, trustDomain: opts.trust_domain, log: deps.log,
      });
    case 'consul': {
      const address = opts.consul.address ?? deps.consul?.address;
      if (address === undefined) throw new Error('identity.source "consul" needs identity.consul.address or the agent\'s Consul address');
      return new ConsulSource({
        // No ?dc=: the leaf comes from the local agent's own datacenter, whatever identity.datacenter says.
        address, token: opts.consul.token ?? deps.consul?.token, service: deps.service,
        waitSeconds: Math.ceil(opts.consul.wait / 1000), log: deps.log,
      });
    }
    case 'coordinator':
      if (deps.coordinator === undefined) throw new Error('identity.source "coordinator" is not wired in this build');
      return deps.coordinator(opts, spiffeId);
  }
}
