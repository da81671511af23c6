/**
 * redirect-traffic against the real kernel, in network namespaces this test
 * creates and deletes: apply, idempotency, changing options, --cleanup leaving
 * `iptables-save -t nat` exactly as before (foreign rules included), IPv6, the
 * legacy backend, and the errors that name what is missing.
 * Skips (saying why) when not root or when ip/iptables are absent.
 */
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { applyRedirect, cleanupRedirect, redirectStatus, saveNat } from '../../src/transparent/apply.ts';
import { buildRuleset, defaultRedirectOptions, ourRulesInSave, type RedirectOptions } from '../../src/transparent/rules.ts';
import { TransparentSetupError } from '../../src/transparent/setup-error.ts';

const sh = promisify(execFile);
const cli = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/bin', '/bin'];
const have = (bin: string) => SBIN.some((d) => existsSync(`${d}/${bin}`));

function skipReason(): string | false {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces and write iptables rules';
  for (const b of ['ip', 'iptables-save', 'iptables-restore', 'nsenter', 'setpriv']) {
    if (!have(b)) return `${b} is not installed (Debian: apt-get install iproute2 iptables util-linux)`;
  }
  // Some sandboxes run as root but forbid namespaces: say so instead of failing.
  const probe = `aimt-probe-${process.pid}`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `cannot create network namespaces here: ${made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return false;
}

const skip = skipReason();
const tag = `${process.pid}`;

async function netns(t: { teardown(fn: () => unknown): void }, name: string): Promise<string> {
  await sh('ip', ['netns', 'add', name]);
  t.teardown(() => sh('ip', ['netns', 'del', name]).catch(() => {}));
  await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return `/var/run/netns/${name}`;
}

/** iptables-save without its timestamp comments and packet counters. */
const normalise = (save: string) =>
  save.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]')).join('\n');

async function restoreIn(path: string, bin: string, script: string): Promise<void> {
  const child = execFile('nsenter', [`--net=${path}`, '--', bin, '--noflush']);
  child.stdin?.end(script);
  const code = await new Promise((r) => child.on('close', r));
  if (code !== 0) throw new Error(`${bin} failed`);
}

async function aim(args: string[], asUid?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = asUid === undefined
    ? [process.execPath, cli, 'redirect-traffic', ...args]
    : ['setpriv', `--reuid=${asUid}`, `--regid=${asUid}`, '--clear-groups', '--inh-caps=-all', process.execPath, cli, 'redirect-traffic', ...args];
  try {
    const { stdout, stderr } = await sh(argv[0] as string, argv.slice(1));
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

// Rules somebody else owns, which every step must leave alone.
const FOREIGN = `*nat
:FOREIGN - [0:0]
-A FOREIGN -p tcp -m tcp --dport 8443 -j RETURN
-A PREROUTING -j FOREIGN
-A OUTPUT -p tcp -m tcp --dport 9999 -j RETURN
COMMIT
`;

t.test('apply, apply again, change, cleanup (IPv4 and IPv6, through the CLI with --netns)', { skip }, async (t) => {
  const path = await netns(t, `aimt-ipt-${tag}`);
  await restoreIn(path, 'iptables-restore', FOREIGN);
  await restoreIn(path, 'ip6tables-restore', FOREIGN);
  const before4 = normalise(await saveNat({ netns: path }, 4));
  const before6 = normalise(await saveNat({ netns: path }, 6));
  t.match(before4, /-A OUTPUT -p tcp -m tcp --dport 9999 -j RETURN/);

  t.same((await redirectStatus({ netns: path, families: [4, 6] })).map((s) => s.installed), [false, false], 'status: not installed');
  const opts: RedirectOptions = { ...defaultRedirectOptions, excludeUids: [1000], excludeOutboundCidrs: ['10.96.0.0/12', 'fd00::/8'] };
  const args = ['--netns', path, '--ipv6', '--exclude-uid', '1000', '--exclude-outbound-cidr', '10.96.0.0/12,fd00::/8'];
  const first = await aim(args);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /iptables: rules applied in network namespace/);

  const applied4 = await saveNat({ netns: path }, 4);
  const applied6 = await saveNat({ netns: path }, 6);
  t.same(ourRulesInSave(applied4), buildRuleset(opts, 4).rules, 'IPv4: our chains hold exactly the planned rules, in order');
  t.same(ourRulesInSave(applied6), buildRuleset(opts, 6).rules, 'IPv6: the same for ip6tables');
  for (const jump of buildRuleset(opts, 4).jumps) {
    t.equal(applied4.split('\n').filter((l) => l === jump).length, 1, `one ${jump}`);
  }
  t.match(applied4, /-A OUTPUT -p tcp -m tcp --dport 9999 -j RETURN/, 'foreign rules kept');
  t.match(applied4, /-A FOREIGN -p tcp -m tcp --dport 8443 -j RETURN/);

  t.same((await redirectStatus({ netns: path, families: [4, 6] })).map((s) => s.installed), [true, true], 'status: installed');
  const second = await aim(args);
  t.equal(second.code, 0, second.stderr);
  t.match(second.stdout, /replacing the previous ones/);
  t.equal(normalise(await saveNat({ netns: path }, 4)), normalise(applied4), 'running twice gives the same IPv4 ruleset');
  t.equal(normalise(await saveNat({ netns: path }, 6)), normalise(applied6), 'and the same IPv6 ruleset');

  // Changing an option replaces the rules instead of adding to them.
  await applyRedirect({ ...opts, proxyOutboundPort: 15002, excludeUids: [] }, { netns: path });
  const changed = await saveNat({ netns: path }, 4);
  t.same(ourRulesInSave(changed), buildRuleset({ ...opts, proxyOutboundPort: 15002, excludeUids: [] }, 4).rules);
  t.notMatch(changed, /15001|uid-owner 1000/);

  const clean = await aim(['--netns', path, '--cleanup', '--ipv6']);
  t.equal(clean.code, 0, clean.stderr);
  t.match(clean.stdout, /removed 2 jumps and 4 chains/);
  t.equal(normalise(await saveNat({ netns: path }, 4)), before4, '--cleanup leaves iptables-save -t nat exactly as before');
  t.equal(normalise(await saveNat({ netns: path }, 6)), before6, 'and ip6tables-save -t nat too');

  t.same((await redirectStatus({ netns: path })).map((s) => s.installed), [false], 'status: removed');
  const again = await aim(['--netns', path, '--cleanup']);
  t.equal(again.code, 0);
  t.match(again.stdout, /nothing to remove/);
  t.equal(normalise(await saveNat({ netns: path }, 4)), before4);
});

t.test('cleanup also removes leftovers of an older layout, and nothing else', { skip }, async (t) => {
  const path = await netns(t, `aimt-old-${tag}`);
  const before = normalise(await saveNat({ netns: path }));
  await restoreIn(path, 'iptables-restore', '*nat\n:AIM_MESH_DNS - [0:0]\n-A AIM_MESH_DNS -p udp -j RETURN\n-A OUTPUT -p udp -j AIM_MESH_DNS\nCOMMIT\n');
  await applyRedirect(defaultRedirectOptions, { netns: path });
  const applied = await saveNat({ netns: path });
  t.notMatch(applied, /AIM_MESH_DNS/, 'apply drops stale chains of ours');
  await cleanupRedirect({ netns: path });
  t.equal(normalise(await saveNat({ netns: path })), before);
});

t.test('the legacy backend works the same', { skip: skip || (!have('iptables-legacy-restore') && 'iptables-legacy is not installed') }, async (t) => {
  const path = await netns(t, `aimt-leg-${tag}`);
  const o = { netns: path, iptables: 'iptables-legacy' };
  const before = normalise(await saveNat(o));
  await applyRedirect(defaultRedirectOptions, o);
  await applyRedirect(defaultRedirectOptions, o);
  const applied = await saveNat(o);
  t.same(ourRulesInSave(applied), buildRuleset(defaultRedirectOptions, 4).rules);
  t.equal(applied.split('\n').filter((l) => l === '-A OUTPUT -p tcp -j AIM_MESH_OUTPUT').length, 1, 'idempotent on legacy too');
  await cleanupRedirect(o);
  t.equal(normalise(await saveNat(o)), before);
});

t.test('errors name what is needed', { skip }, async (t) => {
  const path = await netns(t, `aimt-err-${tag}`);

  const noCap = await aim([], 65534);
  t.equal(noCap.code, 1);
  t.match(noCap.stderr, /NET_ADMIN capability is needed/);
  t.match(noCap.stderr, /cap-add=NET_ADMIN/);

  const noNsCap = await aim(['--netns', path], 65534);
  t.equal(noNsCap.code, 1);
  t.match(noNsCap.stderr, /--netns needs CAP_SYS_ADMIN as well as NET_ADMIN/);

  const setupError = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as TransparentSetupError);
  const noIptables = await setupError(applyRedirect(defaultRedirectOptions, { netns: path, searchPath: ['/nonexistent'] }));
  t.ok(noIptables instanceof TransparentSetupError);
  t.equal(noIptables?.code, 'iptables_missing');
  t.match(noIptables?.message, /iptables-save and iptables-restore are needed: install iptables/);
  const noNs = await setupError(applyRedirect(defaultRedirectOptions, { netns: '/var/run/netns/aimt-does-not-exist' }));
  t.equal(noNs?.code, 'netns_missing');
  const missingNs = await aim(['--netns', '/var/run/netns/aimt-does-not-exist']);
  t.equal(missingNs.code, 1);
  t.match(missingNs.stderr, /does not exist/);
  t.equal(normalise(await saveNat({ netns: path })).includes('AIM_MESH'), false, 'nothing was written');
});
