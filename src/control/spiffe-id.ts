/**
 * SPIFFE IDs for the control plane (the coordinator's authorization decisions,
 * the agent's check of the coordinator's identity), in the shape those call
 * sites want: the parsed ID or undefined. The rules themselves are the
 * identity module's (src/identity/spiffe.ts), so there is one definition of a
 * valid Consul-form ID in the codebase.
 */
import { formatSpiffeId as format, parseSpiffeId as parse } from '../identity/spiffe.ts';
import type { SpiffeId } from '../identity/types.ts';

/** Parse, or undefined when the string is not exactly a Consul-form SPIFFE ID. */
export function parseSpiffeId(s: string): SpiffeId | undefined {
  const r = parse(s);
  return r.ok ? r.id : undefined;
}

export const formatSpiffeId: (id: SpiffeId) => string = format;
