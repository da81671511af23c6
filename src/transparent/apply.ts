/**
 * Applies and removes the interception rules of rules.ts with
 * iptables-save / iptables-restore, in the current network namespace or in
 * another one (`netns`: a path such as /var/run/netns/NAME or /proc/PID/ns/net,
 * entered with `nsenter --net=PATH`).
 *
 * Each operation is: read `iptables-save -t nat`, compute the script from that
 * state, feed it to `iptables-restore --noflush` (one atomic transaction per
 * family). Failures become TransparentSetupError naming what is needed:
 * the iptables package, the NET_ADMIN capability (and SYS_ADMIN to enter
 * another namespace), nsenter, or the namespace path.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import {
  applyScript, buildRuleset, cleanupScript, parseNatState,
  type IpFamily, type NatState, type RedirectOptions, type Ruleset,
} from './rules.ts';
import { TransparentSetupError } from './setup-error.ts';

export interface ApplyOptions {
  /** Network namespace path; absent = the current namespace. */
  readonly netns?: string;
  /** Families to act on. Default [4]. */
  readonly families?: readonly IpFamily[];
  /**
   * The iptables variant: 'iptables' (the system's choice, default), 'iptables-nft'
   * or 'iptables-legacy'. `-save`/`-restore` are appended; ip6tables is derived.
   */
  readonly iptables?: string;
  /** Directories searched for binaries. Default: $PATH plus the sbin directories. */
  readonly searchPath?: readonly string[];
}

export interface FamilyResult {
  readonly family: IpFamily;
  /** Our chains and jumps found before acting. */
  readonly before: NatState;
  /** What was fed to iptables-restore (undefined when there was nothing to do). */
  readonly script: string | undefined;
}

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
/** Capability bit numbers (linux/capability.h). */
export const Capability = { NET_ADMIN: 12, SYS_ADMIN: 21 } as const;

const NET_ADMIN_HINT =
  'the NET_ADMIN capability is needed to change iptables rules: run as root, or grant it ' +
  '(docker run --cap-add=NET_ADMIN; Kubernetes: securityContext.capabilities.add: ["NET_ADMIN"])';
const NETNS_CAP_HINT =
  'entering another network namespace with --netns needs CAP_SYS_ADMIN as well as NET_ADMIN: run as root ' +
  '(or use `ip netns exec NAME aim-mesh redirect-traffic ...` from a privileged shell)';

// === binaries ===

function searchDirs(o: ApplyOptions): string[] {
  return o.searchPath ? [...o.searchPath] : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
}

function findBinary(name: string, dirs: readonly string[]): string | undefined {
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

interface Tools { save: string; restore: string; nsenter: string | undefined; netns: string | undefined }

function tools(o: ApplyOptions, family: IpFamily): Tools {
  const base = o.iptables ?? 'iptables';
  const variant = family === 4 ? base : base.replace(/^iptables/, 'ip6tables');
  const dirs = searchDirs(o);
  const save = findBinary(`${variant}-save`, dirs);
  const restore = findBinary(`${variant}-restore`, dirs);
  if (!save || !restore) {
    throw new TransparentSetupError(
      'iptables_missing',
      `${variant}-save and ${variant}-restore are needed: install iptables (Debian/Ubuntu: apt-get install iptables; Alpine: apk add iptables)`,
      `not found in ${dirs.join(delimiter)}`,
    );
  }
  let nsenter: string | undefined;
  if (o.netns !== undefined) {
    if (!existsSync(o.netns)) {
      throw new TransparentSetupError('netns_missing', `the network namespace ${o.netns} does not exist`, 'check the --netns path (e.g. /var/run/netns/NAME or /proc/PID/ns/net)');
    }
    nsenter = findBinary('nsenter', dirs);
    if (!nsenter) {
      throw new TransparentSetupError('nsenter_missing', 'nsenter is needed for --netns: install util-linux', `not found in ${dirs.join(delimiter)}`);
    }
  }
  return { save, restore, nsenter, netns: o.netns };
}

// === capabilities ===

/** Whether this process holds a capability in its effective set (Linux; false elsewhere). */
export function hasCapability(bit: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return false;
  }
}

// === running ===

interface Ran { code: number; stdout: string; stderr: string }

function run(t: Tools, bin: string, args: readonly string[], input?: string): Promise<Ran> {
  const argv = t.nsenter ? [t.nsenter, `--net=${t.netns}`, '--', bin, ...args] : [bin, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => { /* an early exit is reported through the exit code */ });
    child.stdin.end(input ?? '');
  });
}

/** Map a failed command to the error that names what is missing. */
function failure(t: Tools, what: string, r: Ran): TransparentSetupError {
  const err = r.stderr.trim() || r.stdout.trim() || `exit code ${r.code}`;
  const lacking = (['NET_ADMIN', 'SYS_ADMIN'] as const).filter((c) => !hasCapability(Capability[c]));
  const caps = lacking.length > 0 ? `; this process lacks ${lacking.join(', ')}` : '';
  if (t.nsenter && /nsenter:.*(Operation not permitted|Permission denied)/i.test(err)) {
    return new TransparentSetupError('net_admin_missing', NETNS_CAP_HINT, `${what}: ${err}${caps}`);
  }
  if (/Permission denied|Operation not permitted|you must be root/i.test(err)) {
    return new TransparentSetupError('net_admin_missing', NET_ADMIN_HINT, `${what}: ${err}${caps}`);
  }
  return new TransparentSetupError('iptables_failed', `${what} failed`, err);
}

async function readState(t: Tools): Promise<NatState> {
  const r = await run(t, t.save, ['-t', 'nat']);
  if (r.code !== 0) throw failure(t, 'iptables-save -t nat', r);
  return parseNatState(r.stdout);
}

async function restore(t: Tools, script: string): Promise<void> {
  const r = await run(t, t.restore, ['--noflush', '--wait', '5'], script);
  if (r.code !== 0) throw failure(t, 'iptables-restore --noflush', r);
}

function families(o: ApplyOptions): readonly IpFamily[] {
  return o.families && o.families.length > 0 ? o.families : [4];
}

// === public operations ===

/** `iptables-save -t nat` of one family, in the target namespace (tests and --dry-run diagnostics). */
export async function saveNat(o: ApplyOptions = {}, family: IpFamily = 4): Promise<string> {
  const t = tools(o, family);
  const r = await run(t, t.save, ['-t', 'nat']);
  if (r.code !== 0) throw failure(t, 'iptables-save -t nat', r);
  return r.stdout;
}

/**
 * What of ours is installed, read-only. `aim-mesh agent --transparent` can call
 * it at startup: it needs the same iptables binaries and NET_ADMIN as apply,
 * so it fails with the same named errors, and `installed: false` lets the agent
 * say "run aim-mesh redirect-traffic" instead of silently capturing nothing.
 */
export async function redirectStatus(o: ApplyOptions = {}): Promise<Array<NatState & { family: IpFamily; installed: boolean }>> {
  const out: Array<NatState & { family: IpFamily; installed: boolean }> = [];
  for (const family of families(o)) {
    const state = await readState(tools(o, family));
    const installed = state.ourJumps.some((j) => /-j AIM_MESH_OUTPUT$/.test(j)) && state.ourChains.includes('AIM_MESH_REDIRECT');
    out.push({ family, ...state, installed });
  }
  return out;
}

/**
 * Install (or refresh) the rules. Idempotent: whatever of ours is there is
 * replaced in the same transaction, so running it twice gives the same ruleset.
 */
export async function applyRedirect(opts: RedirectOptions, o: ApplyOptions = {}): Promise<FamilyResult[]> {
  const plans: Ruleset[] = families(o).map((f) => buildRuleset(opts, f)); // validate everything before touching anything
  const out: FamilyResult[] = [];
  for (const rs of plans) {
    const t = tools(o, rs.family);
    const before = await readState(t);
    const script = applyScript(rs, before);
    await restore(t, script);
    out.push({ family: rs.family, before, script });
  }
  return out;
}

/** Remove every jump into, and every chain named, AIM_MESH_*. A no-op when there is none. */
export async function cleanupRedirect(o: ApplyOptions = {}): Promise<FamilyResult[]> {
  const out: FamilyResult[] = [];
  for (const family of families(o)) {
    const t = tools(o, family);
    const before = await readState(t);
    const script = cleanupScript(before);
    if (script !== undefined) await restore(t, script);
    out.push({ family, before, script });
  }
  return out;
}
