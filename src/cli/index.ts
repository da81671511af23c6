#!/usr/bin/env node
/**
 * `aim-mesh` entry point: dispatch to a command from the table in commands.ts.
 * Every command answers `--help`; unknown commands list what exists.
 */
import { commands } from './commands.ts';

function topUsage(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'aim-mesh: a Consul-native service-mesh sidecar agent',
    '',
    'Usage: aim-mesh <command> [options]     (aim-mesh <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topUsage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { version } = await import('../version.ts');
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`aim-mesh: unknown command '${name}'\n\n${topUsage()}`);
    return 2;
  }
  const mod = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(mod.usage.endsWith('\n') ? mod.usage : `${mod.usage}\n`);
    return 0;
  }
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { if (code !== 0 || !process.exitCode) process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`aim-mesh: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
