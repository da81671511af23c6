/**
 * Coordinator options: one schema, defaults in one place, validated once when
 * the coordinator starts (the CLI maps its flags onto this).
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { WirePolicy } from '../proto/types.ts';
import type { CaMaterial } from './signer.ts';

const hostPort = z.object({ host: z.string().min(1), port: z.number().int().min(0).max(65535) });

export const coordinatorSchema = z.object({
  grpc: hostPort.default({ host: '0.0.0.0', port: 15010 }),
  http: hostPort.default({ host: '127.0.0.1', port: 15011 }),
  /** CA directory in the `aim-mesh ca init` layout (created when absent). Either this or `ca`. */
  caDir: z.string().min(1).optional(),
  trustDomain: z.string().regex(/^[a-z0-9._-]{1,255}$/).default('aim.local'),
  datacenter: z.string().regex(/^[A-Za-z0-9._-]+$/).default('dc1'),
  namespace: z.string().regex(/^[A-Za-z0-9._-]+$/).default('default'),
  joinTokens: z.array(z.object({ token: z.string().min(8), service: z.string().min(1) })).default([]),
  leafTtlMs: z.number().int().min(2000).max(366 * 24 * 3600_000).default(24 * 3600_000),
  /** Extra DNS names / IPs for the coordinator's own server certificate. */
  serverNames: z.array(z.string().min(1)).default([]),
  liveness: z.object({
    staleAfterIntervals: z.number().min(1).default(3),
    removeAfterIntervals: z.number().min(2).default(12),
  }).default({ staleAfterIntervals: 3, removeAfterIntervals: 12 }),
  alerts: z.object({
    renewalWindow: z.number().gt(0).lt(1).default(0.3),
    objectives: z.record(z.string(), z.number().gt(0).max(1)).default({}),
    defaultObjective: z.number().gt(0).max(1).default(0.99),
    minRequestsForSlo: z.number().int().min(0).default(20),
  }).default({ renewalWindow: 0.3, objectives: {}, defaultObjective: 0.99, minRequestsForSlo: 20 }),
  minPublishIntervalMs: z.number().int().min(10).default(250),
  sweepIntervalMs: z.number().int().min(10).default(1000),
  consul: z.object({
    address: z.string().url(),
    token: z.string().optional(),
    prefix: z.string().optional(),
    datacenter: z.string().optional(),
  }).optional(),
  shareIntervalMs: z.number().int().min(100).default(5000),
  replicaId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/).default(() => `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 100)}-${process.pid}`),
});

export type CoordinatorConfig = z.output<typeof coordinatorSchema>;

/** Options that are objects rather than plain values. */
export interface CoordinatorRuntime {
  /** In-memory CA instead of `caDir` (tests). */
  readonly ca?: CaMaterial;
  readonly policy?: WirePolicy;
  /** Wall clock for record times and certificate windows (default Date.now). */
  readonly clock?: Clock;
  readonly log?: Logger;
}

export type CoordinatorInput = z.input<typeof coordinatorSchema> & CoordinatorRuntime;

export function parseCoordinatorOptions(input: z.input<typeof coordinatorSchema>): CoordinatorConfig {
  const r = coordinatorSchema.safeParse(input);
  if (!r.success) {
    throw new TypeError(`invalid coordinator options:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`);
  }
  if (r.data.liveness.removeAfterIntervals <= r.data.liveness.staleAfterIntervals) {
    throw new TypeError('invalid coordinator options:\n  liveness.removeAfterIntervals: must be greater than staleAfterIntervals');
  }
  return r.data;
}
