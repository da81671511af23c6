/**
 * `aim-mesh redirect-traffic`: write (or remove) the iptables nat rules that
 * send an app's TCP traffic through its agent. The counterpart of
 * `consul connect redirect-traffic` and istio-iptables; the flags mirror
 * Consul's so scripts carry over (Consul's single-dash spelling, `-proxy-uid 5678`,
 * is accepted too). The rules themselves are documented in transparent/rules.ts.
 */
import { parseArgs } from 'node:util';
import { applyRedirect, cleanupRedirect, type ApplyOptions } from '../../transparent/apply.ts';
import {
  buildRuleset, cleanupCommands, defaultRedirectOptions, ruleCommands, validateRedirectOptions,
  type IpFamily, type RedirectOptions,
} from '../../transparent/rules.ts';
import { TransparentSetupError } from '../../transparent/setup-error.ts';

const D = defaultRedirectOptions;

export const usage = `Usage: aim-mesh redirect-traffic [options]

Write iptables nat rules, in chains of their own (AIM_MESH_INBOUND, AIM_MESH_IN_REDIRECT,
AIM_MESH_OUTPUT, AIM_MESH_REDIRECT), so that outbound TCP goes to the agent's outbound
capture port and inbound TCP goes to the agent's inbound port. Running it again replaces
the rules (idempotent); --cleanup removes exactly what it added.
Needs the NET_ADMIN capability and iptables (plus SYS_ADMIN and nsenter with --netns).

Options (each --exclude-* is repeatable and also takes comma-separated lists):
  --proxy-uid UID                 UID the agent runs as; never captured (default ${D.proxyUid})
  --proxy-inbound-port PORT       the agent's inbound port (default ${D.proxyInboundPort})
  --proxy-outbound-port PORT      the agent's outbound capture port (default ${D.proxyOutboundPort})
  --proxy-admin-port PORT         the agent's admin port, not captured inbound (default ${D.proxyAdminPort})
  --exclude-inbound-port PORT     inbound port left alone
  --exclude-outbound-port PORT    outbound destination port left alone (53 always is)
  --exclude-outbound-cidr CIDR    outbound destination range left alone (loopback always is)
  --exclude-uid UID               processes of this UID are not captured
  --netns PATH                    act in this network namespace (/var/run/netns/NAME, /proc/PID/ns/net)
  --ipv6                          also write the ip6tables rules
  --iptables NAME                 iptables | iptables-nft | iptables-legacy (default iptables)
  --dry-run                       print the commands instead of running anything
  --cleanup                       remove the rules this command added
  -h, --help                      this text
`;

const options = {
  'proxy-uid': { type: 'string' },
  'proxy-inbound-port': { type: 'string' },
  'proxy-outbound-port': { type: 'string' },
  'proxy-admin-port': { type: 'string' },
  'exclude-inbound-port': { type: 'string', multiple: true },
  'exclude-outbound-port': { type: 'string', multiple: true },
  'exclude-outbound-cidr': { type: 'string', multiple: true },
  'exclude-uid': { type: 'string', multiple: true },
  netns: { type: 'string' },
  ipv6: { type: 'boolean' },
  iptables: { type: 'string' },
  'dry-run': { type: 'boolean' },
  cleanup: { type: 'boolean' },
} as const;

class UsageError extends Error {}

/** Consul spells long flags with one dash: accept `-proxy-uid` as `--proxy-uid`. */
function normaliseDashes(argv: readonly string[]): string[] {
  return argv.map((a) => {
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(a);
    return m && Object.hasOwn(options, m[1] as string) ? `-${a}` : a;
  });
}

function int(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--${flag}: expected a number, got '${text}'`);
  return Number(text);
}

const list = (xs: readonly string[] | undefined): string[] =>
  (xs ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);

export function parseRedirectArgs(argv: readonly string[]): { opts: RedirectOptions; apply: ApplyOptions; dryRun: boolean; cleanup: boolean } {
  let values;
  try {
    ({ values } = parseArgs({ args: normaliseDashes(argv), options, allowPositionals: false, strict: true }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const opts: RedirectOptions = {
    proxyUid: int('proxy-uid', values['proxy-uid'], D.proxyUid),
    proxyInboundPort: int('proxy-inbound-port', values['proxy-inbound-port'], D.proxyInboundPort),
    proxyOutboundPort: int('proxy-outbound-port', values['proxy-outbound-port'], D.proxyOutboundPort),
    proxyAdminPort: int('proxy-admin-port', values['proxy-admin-port'], D.proxyAdminPort),
    excludeInboundPorts: list(values['exclude-inbound-port']).map((p) => int('exclude-inbound-port', p, 0)),
    excludeOutboundPorts: list(values['exclude-outbound-port']).map((p) => int('exclude-outbound-port', p, 0)),
    excludeOutboundCidrs: list(values['exclude-outbound-cidr']),
    excludeUids: list(values['exclude-uid']).map((u) => int('exclude-uid', u, 0)),
  };
  try {
    validateRedirectOptions(opts);
  } catch (e) {
    throw new UsageError(`--${(e as Error).message}`);
  }
  const families: IpFamily[] = values.ipv6 ? [4, 6] : [4];
  const apply: ApplyOptions = {
    families,
    ...(values.netns === undefined ? {} : { netns: values.netns }),
    ...(values.iptables === undefined ? {} : { iptables: values.iptables }),
  };
  if (apply.iptables !== undefined && !/^iptables(-nft|-legacy)?$/.test(apply.iptables)) {
    throw new UsageError(`--iptables: expected iptables, iptables-nft or iptables-legacy, got '${apply.iptables}'`);
  }
  return { opts, apply, dryRun: values['dry-run'] === true, cleanup: values.cleanup === true };
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseRedirectArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`aim-mesh redirect-traffic: ${e.message}\n\n${usage}`);
    return 2;
  }
  const { opts, apply, dryRun, cleanup } = parsed;
  const families = apply.families ?? [4];
  const where = apply.netns === undefined ? 'the current network namespace' : `network namespace ${apply.netns}`;

  if (dryRun) {
    const lines = families.flatMap((f) => {
      const rs = buildRuleset(opts, f);
      return cleanup ? cleanupCommands(rs) : ruleCommands(rs);
    });
    const prefix = apply.netns === undefined ? '' : `nsenter --net=${apply.netns} -- `;
    process.stdout.write(lines.map((l) => prefix + l).join('\n') + '\n');
    return 0;
  }

  try {
    if (cleanup) {
      const res = await cleanupRedirect(apply);
      for (const r of res) {
        const what = r.script === undefined ? 'nothing to remove' : `removed ${r.before.ourJumps.length} jumps and ${r.before.ourChains.length} chains`;
        process.stdout.write(`${r.family === 4 ? 'iptables' : 'ip6tables'}: ${what} in ${where}\n`);
      }
    } else {
      const res = await applyRedirect(opts, apply);
      for (const r of res) {
        const replaced = r.before.ourChains.length > 0 ? ' (replacing the previous ones)' : '';
        process.stdout.write(`${r.family === 4 ? 'iptables' : 'ip6tables'}: rules applied in ${where}${replaced}: ` +
          `outbound TCP -> :${opts.proxyOutboundPort}, inbound TCP -> :${opts.proxyInboundPort}, UID ${opts.proxyUid} excluded\n`);
      }
    }
    return 0;
  } catch (e) {
    if (!(e instanceof TransparentSetupError)) throw e;
    process.stderr.write(`aim-mesh redirect-traffic: ${e.message}\n`);
    return 1;
  }
}
