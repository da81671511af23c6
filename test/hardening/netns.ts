/**
 * A throwaway network namespace for fault tests: a veth pair whose far end
 * (10.200.<n>.2, inside the namespace) has an iptables rule that DROPs TCP
 * to one port — so a connect there times out, where loopback would refuse
 * at once — and no listener on any other port (so those are refused from a
 * real peer). The test creates it and deletes it; it needs root and
 * iproute2 + iptables, and reports `undefined` when it cannot be made.
 * Only 10.200.x.x addresses, inside namespaces we made.
 */
import { execFileSync } from 'node:child_process';

export interface DropNamespace {
  /** The address inside the namespace. */
  readonly address: string;
  /** TCP to this port is silently dropped. */
  readonly dropPort: number;
  remove(): void;
}

function sh(args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

export function createDropNamespace(dropPort = 8080): DropNamespace | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const n = 100 + (process.pid % 150);
  const ns = `aimh-${process.pid}`;
  const host = `aimh${n}h`, peer = `aimh${n}n`;
  const remove = (): void => {
    try { sh(['ip', 'netns', 'del', ns]); } catch { /* gone */ }
    try { sh(['ip', 'link', 'del', host]); } catch { /* removed with the namespace */ }
  };
  try {
    remove();
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
    sh(['ip', 'link', 'set', peer, 'netns', ns]);
    sh(['ip', 'addr', 'add', `10.200.${n}.1/30`, 'dev', host]);
    sh(['ip', 'link', 'set', host, 'up']);
    sh(['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `10.200.${n}.2/30`, 'dev', peer]);
    sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up']);
    sh(['ip', 'netns', 'exec', ns, 'iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(dropPort), '-j', 'DROP']);
  } catch {
    remove();
    return undefined;
  }
  return { address: `10.200.${n}.2`, dropPort, remove };
}
