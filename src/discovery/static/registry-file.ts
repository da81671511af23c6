/**
 * The static registry file (config/registry.yaml): the embedded default
 * discovery source. Parsing and validation only; watching is in resolver.ts.
 *
 * The minimal hand-written form is always accepted:
 *
 *   services:
 *     api:
 *       instances:
 *         - { address: 127.0.0.1, port: 21001 }
 *         - { address: 127.0.0.1, port: 21002, weight: 2, tags: [v2] }
 */
import { z } from 'zod';
import type { EndpointSpec } from '../types.ts';
import { parseYamlWithSchema } from '../../config/yaml-schema.ts';

const instanceSchema = z.object({
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  weight: z.number().int().min(1).max(10000).default(1),
  tags: z.array(z.string()).default([]),
  health: z.enum(['passing', 'warning', 'critical']).default('passing'),
  identity: z.string().startsWith('spiffe://').optional(),
  meta: z.record(z.string(), z.string()).optional(),
  datacenter: z.string().optional(),
}).strict();

const serviceSchema = z.object({
  instances: z.array(instanceSchema).default([]),
  /** Expected SPIFFE ID for every instance that does not name its own. */
  identity: z.string().startsWith('spiffe://').optional(),
  /** Virtual IPs for transparent mode: connections to these belong to the service. */
  virtual_ips: z.array(z.string()).default([]),
}).strict();

export const registrySchema = z.object({
  services: z.record(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'a service name of letters, digits, _ . -'), serviceSchema).default({}),
}).strict();

export type Registry = z.infer<typeof registrySchema>;

export function parseRegistry(text: string, file: string): Registry {
  return parseYamlWithSchema(text, file, registrySchema);
}

export function endpointsOf(reg: Registry, service: string): EndpointSpec[] {
  const svc = reg.services[service];
  if (!svc) return [];
  return svc.instances.map((i) => ({
    address: i.address, port: i.port, weight: i.weight, tags: i.tags, health: i.health,
    identity: i.identity ?? svc.identity, meta: i.meta, datacenter: i.datacenter,
  }));
}
