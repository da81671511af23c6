/**
 * An agent pair in its own process (for tests that measure the agents'
 * memory apart from the test's clients and servers). Argument: the app's
 * port. Prints one JSON line {port, pid} when ready; stops on SIGTERM.
 */
import { startMeshPair } from './mesh.ts';

const appPort = Number(process.argv[2]);
const mesh = await startMeshPair({ appPort, mtls: process.argv[3] === 'mtls', extra: { drain_timeout: '1s' } });
process.stdout.write(`${JSON.stringify({ port: mesh.port, pid: process.pid })}\n`);
process.on('SIGTERM', () => { void mesh.stop().then(() => process.exit(0)); });
