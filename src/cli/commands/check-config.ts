/** `aim-mesh check-config FILE`: validate an agent config and print every error. */
import { loadConfigFile } from '../../config/load.ts';
import { ConfigError, formatIssue } from '../../config/yaml-schema.ts';

export const usage = `Usage: aim-mesh check-config FILE

Validate an agent config file. Prints every problem with file, line, key path,
the value found and what was expected; exits 0 when valid, 2 when not.
`;

export async function run(argv: string[]): Promise<number> {
  const file = argv[0];
  if (file === undefined || argv.length > 1) {
    process.stderr.write(usage);
    return 2;
  }
  try {
    const cfg = loadConfigFile(file);
    process.stdout.write(`${file}: ok (service ${cfg.service.name}, ${cfg.upstreams.length} upstream${cfg.upstreams.length === 1 ? '' : 's'})\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} in ${file}:\n`);
    for (const i of err.issues) process.stderr.write(`  ${formatIssue(i)}\n`);
    return 2;
  }
}
