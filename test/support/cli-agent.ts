/**
 * The agent as a real child process (the CLI), for tests that send it signals:
 * one outbound listener for the upstream `api` (a static registry pointing at
 * `appPort`), plaintext, a 10 s drain. Resolves once /ready answers 200, or
 * after `readyTries` tries 50 ms apart; the test then checks what it needs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'undici';
import { tempRegistry } from './mesh.ts';
import { freePort } from './ports.ts';

export interface CliAgent {
  readonly child: ChildProcess;
  /** The outbound listener's port (upstream `api`). */
  readonly port: number;
  /** Settles with the exit code. */
  readonly exited: Promise<number | null>;
  /** What the agent wrote to stderr so far. */
  stderr(): string;
}

export async function spawnCliAgent(t: { teardown(fn: () => void): void }, appPort: number, readyTries: number): Promise<CliAgent> {
  const port = await freePort();
  const admin = await freePort();
  const reg = tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${appPort} }\n`);
  const child = spawn(process.execPath, ['src/cli/index.ts', 'agent', '--service', 'web', '--service-addr', '127.0.0.1:1',
    '--listen', '127.0.0.1:0', '--no-mtls', '--upstream', `api:${port}`, '--registry', reg, '--admin-bind', `127.0.0.1:${admin}`,
    '--drain-timeout', '10s', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b) => { stderr += b; });
  child.stdout!.on('data', () => {});
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  for (let i = 0; i < readyTries; i++) {
    try { const r = await request(`http://127.0.0.1:${admin}/ready`); await r.body.dump(); if (r.statusCode === 200) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, port, exited, stderr: () => stderr };
}
