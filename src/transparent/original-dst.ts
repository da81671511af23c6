/**
 * Original-destination recovery for connections that iptables REDIRECTed to
 * the outbound capture listener.
 *
 * Node has no getsockopt(), so this wraps the small N-API addon in
 * `native/origdst.c`, which asks the kernel's conntrack entry for the pre-NAT
 * destination (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST) on the accepted
 * socket's fd. That is one getsockname() plus one getsockopt() per connection,
 * a conntrack hash lookup with no table scan. Measured by bench/origdst.ts on
 * the dev VM (redirected connections in a namespace, 2000 live connections):
 * 3-4 µs for the first call on a connection, 2-3 µs hot, about twice one
 * uncached getsockname() through Node's TCP handle, and about 3% of the cost
 * of a loopback connect + accept. (Reading /proc/net/nf_conntrack instead would
 * scan the whole table per connection; a conntrack netlink query is a round
 * trip with the same lookup behind it.)
 *
 * The addon is built on demand (`npm run build:native`), never by `npm ci`, so
 * machines without a compiler still install. It is loaded lazily on first use;
 * transparent mode calls `assertOriginalDstAvailable()` at startup so that a
 * missing build fails before any port is bound, with the command to run.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { TransparentSetupError } from './setup-error.ts';

export interface OriginalDst {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

interface Addon {
  /** Once: the Int32Array(3) that getOriginalDst fills with [port, family 4|6, redirected 0|1]. */
  setState(state: Int32Array): void;
  /** The original destination address, or undefined when conntrack has no entry. */
  getOriginalDst(fd: number): string | undefined;
}

const PORT = 0;
const FAMILY = 1;
const REDIRECTED = 2;
const state = new Int32Array(3);

/**
 * Where `node-gyp rebuild --directory=src/transparent/native` puts the addon.
 * AIM_MESH_ORIGDST_ADDON overrides it (an image that ships a prebuilt addon elsewhere).
 */
export const ADDON_PATH = process.env.AIM_MESH_ORIGDST_ADDON
  ?? new URL('./native/build/Release/origdst.node', import.meta.url).pathname;

let addon: Addon | undefined;
let loadError: TransparentSetupError | undefined;

function load(): Addon {
  if (addon) return addon;
  if (loadError) throw loadError;
  try {
    const loaded = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    loaded.setState(state);
    addon = loaded;
    return addon;
  } catch (cause) {
    loadError = new TransparentSetupError(
      'addon_missing',
      'transparent mode needs the orig-dst addon: run npm run build:native',
      `could not load ${ADDON_PATH}: ${(cause as Error).message}`,
      { cause },
    );
    throw loadError;
  }
}

/** Throws TransparentSetupError('addon_missing') when the addon is not built. Call at startup. */
export function assertOriginalDstAvailable(): void {
  load();
}

/** True when the addon loads (tests use it to skip with a reason). */
export function originalDstAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/**
 * The destination the client dialled before iptables redirected it here, or
 * `undefined` when the connection was not redirected: no conntrack entry, or
 * the entry shows the client dialled this socket's own address (somebody
 * connected to the capture port directly, which the capture listener must
 * refuse, or it would proxy to itself).
 *
 * IPv4 traffic on a dual-stack (`::`) listener is reported as plain IPv4.
 * Throws TransparentSetupError('addon_missing') when the addon is not built,
 * and an Error with an errno `code` when the socket has no usable fd.
 */
export function originalDst(socket: Socket): OriginalDst | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined; // closed, or not a kernel socket (e.g. a duplex pair)
  const address = load().getOriginalDst(fd);
  if (address === undefined || state[REDIRECTED] === 0) return undefined;
  return { address, port: state[PORT] as number, family: state[FAMILY] === 6 ? 'IPv6' : 'IPv4' };
}
