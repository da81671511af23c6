import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseRedirectArgs, usage } from '../../../src/cli/commands/redirect-traffic.ts';
import { buildRuleset, defaultRedirectOptions, ruleCommands } from '../../../src/transparent/rules.ts';

const cli = fileURLToPath(new URL('../../../src/cli/index.ts', import.meta.url));
const sh = promisify(execFile);

async function aim(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await sh(process.execPath, [cli, 'redirect-traffic', ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

t.test('flags mirror consul connect redirect-traffic, single or double dash, repeatable or comma lists', async (t) => {
  const p = parseRedirectArgs([
    '-proxy-uid', '1337', '--proxy-inbound-port=21000', '-proxy-outbound-port=15002',
    '--exclude-inbound-port', '22', '--exclude-inbound-port', '8081,8082',
    '-exclude-outbound-port', '5432', '--exclude-outbound-cidr', '10.0.0.0/8,fd00::/8',
    '--exclude-uid', '1000', '-netns', '/var/run/netns/x', '--ipv6', '--iptables', 'iptables-legacy',
  ]);
  t.same(p.opts, {
    proxyUid: 1337, proxyInboundPort: 21000, proxyOutboundPort: 15002, proxyAdminPort: defaultRedirectOptions.proxyAdminPort,
    excludeInboundPorts: [22, 8081, 8082], excludeOutboundPorts: [5432],
    excludeOutboundCidrs: ['10.0.0.0/8', 'fd00::/8'], excludeUids: [1000],
  });
  t.same(p.apply, { families: [4, 6], netns: '/var/run/netns/x', iptables: 'iptables-legacy' });
  t.equal(p.dryRun, false);
  t.equal(p.cleanup, false);
  t.same(parseRedirectArgs([]).opts, defaultRedirectOptions, 'every flag has a default');
});

t.test('bad flags are usage errors naming the flag', async (t) => {
  t.throws(() => parseRedirectArgs(['--proxy-uid', 'root']), /--proxy-uid: expected a number/);
  t.throws(() => parseRedirectArgs(['--exclude-outbound-cidr', '10.0.0.0/40']), /exclude-outbound-cidr/);
  t.throws(() => parseRedirectArgs(['--iptables', 'nft']), /--iptables/);
  t.throws(() => parseRedirectArgs(['--bogus']), /bogus/);
  t.throws(() => parseRedirectArgs(['positional']), /positional/);
});

t.test('--dry-run prints the rules and touches nothing', async (t) => {
  const r = await aim(['--dry-run', '--proxy-inbound-port', '21000', '--exclude-uid', '1000']);
  t.equal(r.code, 0, r.stderr);
  const expected = ruleCommands(buildRuleset({ ...defaultRedirectOptions, proxyInboundPort: 21000, excludeUids: [1000] }, 4));
  t.same(r.stdout.trimEnd().split('\n'), expected);
  t.match(r.stdout, /iptables -t nat -A AIM_MESH_OUTPUT -m owner --uid-owner 1000 -j RETURN/);

  const ns = await aim(['--dry-run', '--netns', '/var/run/netns/app', '--ipv6']);
  t.ok(ns.stdout.split('\n').filter(Boolean).every((l) => l.startsWith('nsenter --net=/var/run/netns/app -- ')));
  t.match(ns.stdout, /ip6tables -t nat -A AIM_MESH_OUTPUT -d ::1\/128 -j RETURN/);

  const clean = await aim(['--dry-run', '--cleanup']);
  t.match(clean.stdout, /^iptables -t nat -D PREROUTING -p tcp -j AIM_MESH_INBOUND$/m);
  t.match(clean.stdout, /^iptables -t nat -X AIM_MESH_REDIRECT$/m);
});

t.test('usage and exit codes', async (t) => {
  const help = await aim(['--help']);
  t.equal(help.code, 0);
  t.equal(help.stdout.trimEnd(), usage.trimEnd());
  const bad = await aim(['--proxy-outbound-port', 'x']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--proxy-outbound-port: expected a number/);
});
