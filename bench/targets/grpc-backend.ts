/**
 * The grpc scenario's backend: the Node gRPC peer (lib/grpc-peer.ts, a
 * @grpc/grpc-js server over h2c) as one tracked process on a loopback port.
 * One peer is shared by all grpc targets of a run, as the nginx backend is
 * by the HTTP/1 ones.
 */
import { freePort, waitForPort } from '../lib/ports.ts';
import type { ProcessGroup } from '../lib/procs.ts';
import type { RunningBackend } from './backend.ts';

export async function startGrpcBackend(procs: ProcessGroup, repo: string): Promise<RunningBackend> {
  const port = await freePort();
  const tracked = procs.spawn('backend-grpc-peer', process.execPath, ['bench/lib/grpc-peer.ts', '--port', String(port)], { cwd: repo, env: { ...process.env, NODE_ENV: 'production' } });
  await waitForPort(port, tracked, 20_000);
  return { port, tracked, pids: () => tracked.pids() };
}
