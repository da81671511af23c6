/**
 * Which SPIFFE ID an outbound connection must find on the other side: the
 * endpoint's own `identity` when discovery supplies one (registry entry,
 * Consul), otherwise the Consul-form ID of the upstream's service name in the
 * local trust domain and namespace, in the endpoint's datacenter when known.
 * Never a DNS name.
 */
import type { EndpointSpec } from '../discovery/types.ts';
import { formatSpiffeId } from './spiffe.ts';

export interface LocalIdentityScope {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly datacenter: string;
}

export function expectedSpiffeId(upstreamService: string, endpoint: Pick<EndpointSpec, 'identity' | 'datacenter'>, local: LocalIdentityScope): string {
  if (endpoint.identity !== undefined) return endpoint.identity;
  return formatSpiffeId({
    trustDomain: local.trustDomain, namespace: local.namespace,
    datacenter: endpoint.datacenter ?? local.datacenter, service: upstreamService,
  });
}
