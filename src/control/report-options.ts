/**
 * The `coordinator:` section of the agent config (schema only). It lives apart
 * from agent-reporter.ts so that validating a config does not load the reporter,
 * and with it gRPC, protobufjs and the proto files: an agent that reports to no
 * coordinator never loads them (~1.5 MB of module source and code per process).
 *
 *   coordinator:
 *     address: aim-mesh-coordinator.aim-mesh:15010
 *     interval: 5s
 *     coordinator_id: spiffe://aim.local/ns/default/dc/dc1/svc/aim-mesh-coordinator   # optional
 */
import { z } from 'zod';
import { duration } from '../config/duration.ts';

export const coordinatorReportSchema = z.object({
  address: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port'),
  interval: duration.refine((ms) => ms >= 100, 'interval must be at least 100ms').default(5000),
  coordinator_id: z.string().startsWith('spiffe://').optional(),
}).strict();

export type CoordinatorReportConfig = z.infer<typeof coordinatorReportSchema>;
