/** `aim-mesh demo`: what `npm start` runs; `--transparent` runs the namespace demo instead. */
import { parseArgs } from 'node:util';
import { runDemo } from '../../demo/demo.ts';

export const usage = `Usage: aim-mesh demo [--log-level LEVEL] [--transparent [--duration S]]

Run a local demo mesh on the embedded defaults (no Consul needed): sample
services, each behind its own agent, wired through a static registry file,
with mTLS between agents from a local dev CA. Prints the curl commands to try.
Ctrl-C drains and stops.

  --transparent     transparent interception with real kernel networking instead
                    (sudo npm start -- --transparent): two network namespaces on a
                    veth pair; in B the sample app behind its agent; in A the
                    redirect-traffic rules, an agent with --transparent running as
                    UID 5678 and a client calling B's plain address, captured and
                    carried over mTLS. Prints what is captured and the caller's
                    SPIFFE identity every few seconds; Ctrl-C stops every process,
                    removes the rules and deletes the namespaces. Needs Linux, root,
                    ip, iptables, nsenter, setpriv and the orig-dst addon (npm run
                    build:native); otherwise exits 2 saying what is missing.
  --duration S      (with --transparent) stop by itself after S seconds
  --log-level L     the agents' log level (default warn)
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: {
    'log-level': { type: 'string' }, transparent: { type: 'boolean' }, duration: { type: 'string' },
  } });
  if (values.transparent) return transparent(values.duration, values['log-level']);
  if (values.duration !== undefined) {
    process.stderr.write('aim-mesh demo: --duration goes with --transparent\n');
    return 2;
  }
  const demo = await runDemo({ logLevel: values['log-level'] });
  await new Promise<void>((resolve) => {
    const stop = (): void => { process.stdout.write('\ndraining...\n'); void demo.stop().then(resolve); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

async function transparent(duration: string | undefined, logLevel: string | undefined): Promise<number> {
  const durationS = duration === undefined ? undefined : Number(duration);
  if (durationS !== undefined && !(durationS > 0)) {
    process.stderr.write(`aim-mesh demo: --duration takes a number of seconds, not '${duration}'\n`);
    return 2;
  }
  const { demoPrerequisite, runTransparentDemo } = await import('../../demo/transparent.ts');
  const missing = demoPrerequisite();
  if (missing !== false) {
    process.stderr.write(`aim-mesh demo --transparent: ${missing}\n`);
    return 2;
  }
  const ac = new AbortController();
  // `on`, not `once`: a second Ctrl-C during cleanup must not kill the process halfway.
  const onSignal = (): void => { if (!ac.signal.aborted) process.stdout.write('\n'); ac.abort(); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await runTransparentDemo({ durationS, signal: ac.signal, logLevel });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
