/** `aim-mesh demo`: what `npm start` runs. */
import { parseArgs } from 'node:util';
import { runDemo } from '../../demo/demo.ts';

export const usage = `Usage: aim-mesh demo [--log-level LEVEL]

Run a local demo mesh on the embedded defaults (no Consul needed): sample
services, each behind its own agent, wired through a static registry file,
with mTLS between agents from a local dev CA. Prints the curl commands to try.
Ctrl-C drains and stops.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'log-level': { type: 'string' } } });
  const demo = await runDemo({ logLevel: values['log-level'] });
  await new Promise<void>((resolve) => {
    const stop = (): void => { process.stdout.write('\ndraining...\n'); void demo.stop().then(resolve); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
