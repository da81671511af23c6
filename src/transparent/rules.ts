/**
 * The iptables nat rules of transparent interception, generated as data (pure:
 * no I/O, no clock). apply.ts feeds them to iptables-restore.
 *
 * The layout follows Consul's `connect redirect-traffic` (sdk/iptables) and
 * istio-iptables: four chains of our own, reached by one jump each from the
 * built-in chains, so that cleanup is "delete our jumps, flush and delete our
 * chains" and never touches anybody else's rules.
 *
 *   PREROUTING -p tcp -> AIM_MESH_INBOUND        inbound: packets arriving from outside
 *     RETURN for the agent's own inbound port, the admin port, --exclude-inbound-port
 *     everything else -> AIM_MESH_IN_REDIRECT -> REDIRECT --to-ports <proxy-inbound-port>
 *   OUTPUT -p tcp -> AIM_MESH_OUTPUT             outbound: connections made by local processes
 *     RETURN for the proxy UID (owner match: the agent's own upstream connections are
 *       never re-captured, which is what prevents loops), --exclude-uid, loopback
 *       destinations, DNS (53), --exclude-outbound-port, --exclude-outbound-cidr
 *     everything else -> AIM_MESH_REDIRECT -> REDIRECT --to-ports <proxy-outbound-port>
 *
 * The exclusions come before the final jump, in the order above; the first
 * match wins. Rules are written in the canonical form `iptables-save` prints
 * (`-p tcp -m tcp --dport N`), so a saved ruleset can be compared with a plan.
 *
 * Idempotence: `applyScript` is computed from the current `iptables-save -t nat`
 * output. Declaring our chains flushes them (iptables-restore --noflush), and
 * every existing jump into an AIM_MESH_ chain is deleted before the jumps are
 * added again, all in one atomic iptables-restore transaction. Running it twice
 * yields the same ruleset. `cleanupScript` removes every jump into, and every
 * chain named, AIM_MESH_*: exactly what apply added, and nothing else.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { DEFAULT_PORTS, PROXY_UID } from '../k8s/defaults.ts';

export const CHAIN_PREFIX = 'AIM_MESH_';
export const Chains = {
  inbound: 'AIM_MESH_INBOUND',
  inRedirect: 'AIM_MESH_IN_REDIRECT',
  output: 'AIM_MESH_OUTPUT',
  redirect: 'AIM_MESH_REDIRECT',
} as const;

export const DNS_PORT = 53;

export type IpFamily = 4 | 6;

export interface RedirectOptions {
  /** UID the agent runs as; its traffic is never captured. */
  readonly proxyUid: number;
  /** The agent's inbound (public) port: inbound TCP is redirected there. */
  readonly proxyInboundPort: number;
  /** The agent's outbound capture port: outbound TCP is redirected there. */
  readonly proxyOutboundPort: number;
  /** The agent's admin port, left alone on inbound (probes, scrapes). */
  readonly proxyAdminPort: number;
  readonly excludeInboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  /** CIDRs or bare addresses of either family; each family's rules take their own. */
  readonly excludeOutboundCidrs: readonly string[];
  readonly excludeUids: readonly number[];
}

export const defaultRedirectOptions: RedirectOptions = {
  proxyUid: PROXY_UID,
  proxyInboundPort: DEFAULT_PORTS.inbound,
  proxyOutboundPort: DEFAULT_PORTS.outbound,
  proxyAdminPort: DEFAULT_PORTS.admin,
  excludeInboundPorts: [],
  excludeOutboundPorts: [],
  excludeOutboundCidrs: [],
  excludeUids: [],
};

/** One family's nat ruleset: our chains, the rules inside them, and the jumps into them. */
export interface Ruleset {
  readonly family: IpFamily;
  readonly chains: readonly string[];
  /** `-A AIM_MESH_x ...` lines, in order. */
  readonly rules: readonly string[];
  /** `-A PREROUTING|OUTPUT ... -j AIM_MESH_x` lines, in order. */
  readonly jumps: readonly string[];
}

// === validation ===

function port(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw new RangeError(`${name}: expected a port 1-65535, got ${v}`);
  return v;
}

function uid(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw new RangeError(`${name}: expected a UID 0-4294967294, got ${v}`);
  return v;
}

/** Parse `addr` or `addr/len`; returns the family and canonical `addr/len` as iptables-save prints it. */
export function parseCidr(text: string): { family: IpFamily; cidr: string } {
  const [addr = '', len, extra] = text.trim().split('/');
  const family: IpFamily | undefined = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : undefined;
  if (family === undefined || extra !== undefined) throw new RangeError(`exclude-outbound-cidr: '${text}' is not an IP address or CIDR`);
  const max = family === 4 ? 32 : 128;
  const bits = len === undefined ? max : Number(len);
  if (len === '' || !Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new RangeError(`exclude-outbound-cidr: '${text}' has a bad prefix length (0-${max})`);
  }
  if (family === 6) return { family, cidr: `${addr.toLowerCase()}/${bits}` };
  // iptables prints the network address: 10.1.2.3/8 -> 10.0.0.0/8.
  const n = addr.split('.').reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
  const masked = bits === 0 ? 0 : (n & (0xffffffff << (32 - bits))) >>> 0;
  const dotted = [24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.');
  return { family, cidr: `${dotted}/${bits}` };
}

/** Validate options once; throws RangeError naming the flag. */
export function validateRedirectOptions(o: RedirectOptions): RedirectOptions {
  port('proxy-inbound-port', o.proxyInboundPort);
  port('proxy-outbound-port', o.proxyOutboundPort);
  port('proxy-admin-port', o.proxyAdminPort);
  uid('proxy-uid', o.proxyUid);
  if (o.proxyInboundPort === o.proxyOutboundPort) {
    throw new RangeError(`proxy-inbound-port and proxy-outbound-port must differ (both ${o.proxyInboundPort})`);
  }
  o.excludeInboundPorts.forEach((p) => port('exclude-inbound-port', p));
  o.excludeOutboundPorts.forEach((p) => port('exclude-outbound-port', p));
  o.excludeUids.forEach((u) => uid('exclude-uid', u));
  o.excludeOutboundCidrs.forEach((c) => parseCidr(c));
  return o;
}

// === generation ===

const uniq = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** The ruleset for one family. Pure; same options give the same lines. */
export function buildRuleset(opts: RedirectOptions, family: IpFamily): Ruleset {
  const o = validateRedirectOptions(opts);
  const C = Chains;
  const tcpPort = (chain: string, p: number) => `-A ${chain} -p tcp -m tcp --dport ${p} -j RETURN`;
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';

  const inbound = [
    // The agent's own public port and admin port are served by the agent already.
    ...uniq([o.proxyInboundPort, o.proxyAdminPort, ...o.excludeInboundPorts]).map((p) => tcpPort(C.inbound, p)),
    `-A ${C.inbound} -p tcp -j ${C.inRedirect}`,
  ];
  const output = [
    // First: the agent's own connections. This is the loop breaker.
    `-A ${C.output} -m owner --uid-owner ${o.proxyUid} -j RETURN`,
    ...uniq(o.excludeUids).filter((u) => u !== o.proxyUid).map((u) => `-A ${C.output} -m owner --uid-owner ${u} -j RETURN`),
    // Loopback stays local: explicit upstream listeners, the admin port, the app itself.
    `-A ${C.output} -d ${loopback} -j RETURN`,
    ...uniq([DNS_PORT, ...o.excludeOutboundPorts]).map((p) => tcpPort(C.output, p)),
    ...uniq(o.excludeOutboundCidrs.map(parseCidr).filter((c) => c.family === family).map((c) => c.cidr))
      .map((cidr) => `-A ${C.output} -d ${cidr} -j RETURN`),
    `-A ${C.output} -j ${C.redirect}`,
  ];
  return {
    family,
    chains: [C.inbound, C.inRedirect, C.output, C.redirect],
    rules: [
      ...inbound,
      `-A ${C.inRedirect} -p tcp -j REDIRECT --to-ports ${o.proxyInboundPort}`,
      ...output,
      `-A ${C.redirect} -p tcp -j REDIRECT --to-ports ${o.proxyOutboundPort}`,
    ],
    jumps: [`-A PREROUTING -p tcp -j ${C.inbound}`, `-A OUTPUT -p tcp -j ${C.output}`],
  };
}

// === reading the current state ===

export interface NatState {
  /** Chains named AIM_MESH_* that exist. */
  readonly ourChains: readonly string[];
  /** Rules in other chains that jump (-j/-g) into an AIM_MESH_ chain, as printed. */
  readonly ourJumps: readonly string[];
}

/** Read `iptables-save -t nat` output. Tolerates comments and other tables. */
export function parseNatState(save: string): NatState {
  const ourChains: string[] = [];
  const ourJumps: string[] = [];
  let inNat = false;
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inNat = line === '*nat';
    if (!inNat) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0] ?? '';
      if (name.startsWith(CHAIN_PREFIX)) ourChains.push(name);
    } else if (line.startsWith('-A ')) {
      const chain = line.split(/\s+/)[1] ?? '';
      if (chain.startsWith(CHAIN_PREFIX)) continue;
      if (/\s-[jg]\s+AIM_MESH_\S+/.test(line)) ourJumps.push(line);
    }
  }
  return { ourChains, ourJumps };
}

/** Rules of our chains, as printed by iptables-save (for comparison with a plan). */
export function ourRulesInSave(save: string): string[] {
  return save.split('\n').map((l) => l.trim()).filter((l) => /^-A AIM_MESH_\S+\s/.test(l));
}

// === scripts for iptables-restore --noflush ===

/** Delete-before-add: what apply feeds to `iptables-restore --noflush`, given the current state. */
export function applyScript(rs: Ruleset, state: NatState): string {
  const stale = state.ourChains.filter((c) => !rs.chains.includes(c));
  return [
    '*nat',
    // Declaring a chain creates it, or flushes it when it exists (--noflush keeps everything else).
    ...rs.chains.map((c) => `:${c} - [0:0]`),
    ...state.ourJumps.map((j) => j.replace(/^-A /, '-D ')),
    ...stale.map((c) => `-F ${c}`),
    ...stale.map((c) => `-X ${c}`),
    ...rs.rules,
    ...rs.jumps,
    'COMMIT',
    '',
  ].join('\n');
}

/** What cleanup feeds to `iptables-restore --noflush`; undefined when nothing of ours is there. */
export function cleanupScript(state: NatState): string | undefined {
  if (state.ourChains.length === 0 && state.ourJumps.length === 0) return undefined;
  return [
    '*nat',
    ...state.ourJumps.map((j) => j.replace(/^-A /, '-D ')),
    ...state.ourChains.map((c) => `-F ${c}`),
    ...state.ourChains.map((c) => `-X ${c}`),
    'COMMIT',
    '',
  ].join('\n');
}

// === dry run ===

/** The ruleset as iptables commands, the way `consul connect redirect-traffic` and istio-iptables print them. */
export function ruleCommands(rs: Ruleset): string[] {
  const bin = rs.family === 4 ? 'iptables' : 'ip6tables';
  return [
    ...rs.chains.map((c) => `${bin} -t nat -N ${c}`),
    ...rs.rules.map((r) => `${bin} -t nat ${r}`),
    ...rs.jumps.map((j) => `${bin} -t nat ${j}`),
  ];
}

/** The cleanup as iptables commands, for a ruleset this tool wrote (dry run: the live state is not read). */
export function cleanupCommands(rs: Ruleset): string[] {
  const bin = rs.family === 4 ? 'iptables' : 'ip6tables';
  return [
    ...rs.jumps.map((j) => `${bin} -t nat ${j.replace(/^-A /, '-D ')}`),
    ...rs.chains.map((c) => `${bin} -t nat -F ${c}`),
    ...rs.chains.map((c) => `${bin} -t nat -X ${c}`),
  ];
}
