/**
 * Service virtual IPs, as Consul's state store assigns them (1.11+, when
 * every server supports them): agent/consul/state/catalog.go
 * `assignServiceVirtualIP` / `freeServiceVirtualIP`.
 *
 * - A VIP belongs to a service NAME and is assigned when a Connect-capable
 *   instance is registered: a connect-proxy (for its
 *   Proxy.DestinationServiceName) or a Connect-native service (for itself).
 * - The registered instance gets it as the tagged address `consul-virtual`,
 *   `{ address: <vip>, port: <the instance's Port> }` (stored with the
 *   instance; Consul DNS answers `<svc>.virtual.consul` with it).
 * - Addresses come from 240.0.0.0/4: offsets from 240.0.0.0, the first one is
 *   240.0.0.1; freed VIPs are reused (lowest first) before the counter moves
 *   on; past 240.0.0.0 + 15.255.255.254 registration fails.
 * - A VIP is freed when the last instance NAMED like the service (the app
 *   instances, not its proxies) is deregistered.
 */

/** Consul's tagged-address key for a service's virtual IP (structs.TaggedAddressVirtualIP). */
export const VIRTUAL_IP_TAG = 'consul-virtual';

const START = 240 << 24 >>> 0; // 240.0.0.0
const MAX_OFFSET = ((15 << 24) | (255 << 16) | (255 << 8) | 254) >>> 0; // 15.255.255.254

const toIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export class VirtualIpTable {
  /** service name → offset from 240.0.0.0 */
  readonly #assigned = new Map<string, number>();
  /** Freed offsets, reused lowest first. */
  readonly #free: number[] = [];
  #counter = 0;

  /** The service's VIP, assigning one if it has none. */
  assign(service: string): string {
    let off = this.#assigned.get(service);
    if (off === undefined) {
      if (this.#free.length > 0) {
        this.#free.sort((a, b) => a - b);
        off = this.#free.shift()!;
      } else {
        if (this.#counter + 1 >= MAX_OFFSET) throw new Error('cannot allocate any more unique service virtual IPs');
        off = ++this.#counter;
      }
      this.#assigned.set(service, off);
    }
    return toIp((START + off) >>> 0);
  }

  get(service: string): string | undefined {
    const off = this.#assigned.get(service);
    return off === undefined ? undefined : toIp((START + off) >>> 0);
  }

  /** Give the VIP back (the service's last instance is gone). */
  free(service: string): void {
    const off = this.#assigned.get(service);
    if (off === undefined) return;
    this.#assigned.delete(service);
    this.#free.push(off);
  }
}
