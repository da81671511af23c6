/**
 * Parsing of the per-pod annotations (aim-mesh.io/*). Pure: strings in, typed
 * values and a list of problems out. A problem is an error when injecting
 * anyway would give the pod a wrong proxy (a bad upstream list, say); the
 * caller then leaves the pod alone (failurePolicy Ignore) or refuses it (Fail).
 */
import { Annotations } from './defaults.ts';

export interface Upstream {
  readonly name: string;
  readonly port: number;
}

export interface PodOptions {
  readonly upstreams: readonly Upstream[];
  readonly opaquePorts: readonly number[];
  /** undefined = the annotation is absent, use the injector's default. */
  readonly transparent: boolean | undefined;
  readonly excludeInboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeOutboundCidrs: readonly string[];
  readonly excludeUids: readonly number[];
}

const SERVICE_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const CIDR4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const CIDR6 = /^[0-9a-fA-F:]+\/\d{1,3}$/;

export function isServiceName(s: string): boolean {
  return SERVICE_NAME.test(s);
}

function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

function isCidr(s: string): boolean {
  const m = CIDR4.exec(s);
  if (m) return m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
  if (!CIDR6.test(s)) return false;
  return Number(s.split('/')[1]) <= 128 && s.includes(':');
}

/** Split a comma-separated annotation value; empty entries are ignored. */
function items(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function list<T>(key: string, raw: string | undefined, parse: (s: string) => T | undefined, what: string, errors: string[]): T[] {
  if (raw === undefined) return [];
  const out: T[] = [];
  for (const item of items(raw)) {
    const v = parse(item);
    if (v === undefined) errors.push(`${key}: '${item}' is not ${what}`);
    else out.push(v);
  }
  return out;
}

function parseUpstream(item: string): Upstream | undefined {
  const i = item.lastIndexOf(':');
  if (i <= 0) return undefined;
  const name = item.slice(0, i);
  const port = parsePort(item.slice(i + 1));
  return isServiceName(name) && port !== undefined ? { name, port } : undefined;
}

/** Parse `true`/`false`/`enabled`/`disabled` (case-insensitive); undefined for anything else. */
export function parseSwitch(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === 'enabled') return true;
  if (s === 'false' || s === 'disabled') return false;
  return undefined;
}

/** Read every option annotation of a pod; `errors` collects what could not be read. */
export function parsePodOptions(annotations: Readonly<Record<string, string>>, errors: string[]): PodOptions {
  const A = Annotations;
  const upstreams = list(A.upstreams, annotations[A.upstreams], parseUpstream, 'NAME:PORT', errors);
  const seen = new Set<number>();
  for (const u of upstreams) {
    if (seen.has(u.port)) errors.push(`${A.upstreams}: port ${u.port} is used by two upstreams`);
    seen.add(u.port);
  }
  let transparent: boolean | undefined;
  const rawT = annotations[A.transparent];
  if (rawT !== undefined) {
    transparent = parseSwitch(rawT);
    if (transparent === undefined) errors.push(`${A.transparent}: '${rawT}' is not true or false`);
  }
  const uid = (s: string): number | undefined => (/^\d{1,10}$/.test(s) ? Number(s) : undefined);
  return {
    upstreams,
    opaquePorts: list(A.opaquePorts, annotations[A.opaquePorts], parsePort, 'a port', errors),
    transparent,
    excludeInboundPorts: list(A.excludeInboundPorts, annotations[A.excludeInboundPorts], parsePort, 'a port', errors),
    excludeOutboundPorts: list(A.excludeOutboundPorts, annotations[A.excludeOutboundPorts], parsePort, 'a port', errors),
    excludeOutboundCidrs: list(A.excludeOutboundCidrs, annotations[A.excludeOutboundCidrs], (s) => (isCidr(s) ? s : undefined), 'a CIDR', errors),
    excludeUids: list(A.excludeUids, annotations[A.excludeUids], uid, 'a UID', errors),
  };
}
