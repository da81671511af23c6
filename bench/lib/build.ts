/**
 * The agents in a benchmark run the pre-stripped build, as bin/aim-mesh.js does
 * when it is current: `npm run build` (bin/build.ts) first, then targets start
 * dist/cli/index.js.
 */
import { execFileSync } from 'node:child_process';

export function buildDist(repo: string, log: (line: string) => void): void {
  log('Building dist/ (npm run build) so the agents run without the in-process type stripper…');
  execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/build.ts'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
}
