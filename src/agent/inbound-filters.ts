/**
 * The inbound stack after telemetry: authorization first (a denied caller
 * must not even spend rate-limit tokens), then the inbound rate limits
 * (global, and per caller identity).
 */
import type { Filter } from '../core/filter.ts';
import type { AgentConfig } from '../config/schema.ts';
import { buildRateLimit, type BuiltRateLimit } from '../resilience/ratelimit/build.ts';
import { AuthzFilter } from './authz-filter.ts';
import { PeerStats } from '../telemetry/peer-stats.ts';
import type { ConsulAuthzFilter } from './consul-authz.ts';

export interface InboundFilters {
  readonly filters: Filter[];
  readonly authz: AuthzFilter;
  readonly rateLimit: BuiltRateLimit;
  readonly peers: PeerStats;
}

export function buildInboundFilters(cfg: AgentConfig, consulAuthz?: ConsulAuthzFilter): InboundFilters {
  const authz = new AuthzFilter(cfg.authz);
  const rateLimit = buildRateLimit(cfg.service.name, cfg.inbound.rate_limit);
  // Intentions from Consul replace the config rules when authz.source is consul.
  // Caller identities first, so denied callers are counted too.
  const peers = new PeerStats(cfg.service.name);
  const filters: Filter[] = [peers, consulAuthz ?? authz];
  if (rateLimit.filter) filters.push(rateLimit.filter);
  return { filters, authz, rateLimit, peers };
}
