/**
 * Decoding and validating `PUT /v1/agent/service/register` bodies the way
 * Consul does (agent/agent_endpoint.go, agent/structs, agent/sidecar_service.go):
 * defaults, Weights/Meta/address checks, connect-proxy validation with
 * go-multierror text, and Connect.SidecarService expansion. Field names are
 * matched as in fields.ts; opaque maps (`Meta`, `Proxy.Config`) are kept verbatim.
 */
import { badRequest } from './http.ts';
import { decodeCheck, type CheckDef } from './check-def.ts';
import { field, norm, num, obj, str, strMap, type Obj } from './fields.ts';
import type { TaggedAddress, Weights } from './types.ts';

export { decodeCheck, type CheckDef } from './check-def.ts';
export { field } from './fields.ts';

export interface ServiceDef {
  Kind: string;
  ID: string;
  Name: string;
  Tags: string[] | null;
  Address: string;
  TaggedAddresses: Record<string, TaggedAddress> | undefined;
  Meta: Record<string, string> | null;
  Port: number;
  SocketPath: string;
  Weights: Weights;
  EnableTagOverride: boolean;
  Proxy: Record<string, unknown> | undefined;
  Connect: { Native: boolean } | undefined;
  checks: CheckDef[];
  /** Set when this is a sidecar created by Connect.SidecarService of that parent ID. */
  sidecarOf?: string;
}

function decodeUpstream(u: unknown): Obj {
  const o = obj(u) ?? {};
  const out: Obj = {
    DestinationType: str(field(o, 'DestinationType')) || 'service',
    DestinationName: str(field(o, 'DestinationName')),
  };
  const dc = str(field(o, 'Datacenter'));
  if (dc) out['Datacenter'] = dc;
  const lba = str(field(o, 'LocalBindAddress'));
  if (lba) out['LocalBindAddress'] = lba;
  out['LocalBindPort'] = num(field(o, 'LocalBindPort'));
  const sock = str(field(o, 'LocalBindSocketPath'));
  if (sock) out['LocalBindSocketPath'] = sock;
  const cfg = obj(field(o, 'Config'));
  if (cfg) out['Config'] = cfg;
  return out;
}

function decodeProxy(p: unknown): Obj | undefined {
  const o = obj(p);
  if (!o) return undefined;
  const out: Obj = {
    DestinationServiceName: str(field(o, 'DestinationServiceName')),
    DestinationServiceID: str(field(o, 'DestinationServiceID')),
    LocalServiceAddress: str(field(o, 'LocalServiceAddress')),
    LocalServicePort: num(field(o, 'LocalServicePort')),
  };
  const sock = str(field(o, 'LocalServiceSocketPath'));
  if (sock) out['LocalServiceSocketPath'] = sock;
  out['Mode'] = str(field(o, 'Mode'));
  const tp = obj(field(o, 'TransparentProxy'));
  if (tp) out['TransparentProxy'] = tp;
  const cfg = obj(field(o, 'Config'));
  if (cfg) out['Config'] = cfg;
  const ups = field(o, 'Upstreams');
  if (Array.isArray(ups)) out['Upstreams'] = ups.map(decodeUpstream);
  return out;
}

const META_KEY = /^[A-Za-z0-9_-]+$/;

function validateMeta(meta: Record<string, string> | null): void {
  if (!meta) return;
  const keys = Object.keys(meta);
  if (keys.length > 64) throw badRequest(`Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs`);
  for (const k of keys) {
    if (k === '') throw badRequest('Invalid Service Meta: Key cannot be blank');
    if (!META_KEY.test(k)) throw badRequest(`Invalid Service Meta: Key contains invalid characters`);
    if (k.length > 128) throw badRequest(`Invalid Service Meta: Key is too long (limit: 128 characters)`);
    if (k.startsWith('consul-')) throw badRequest(`Invalid Service Meta: Key prefix 'consul-' is reserved for internal use`);
    if (meta[k]!.length > 512) throw badRequest(`Invalid Service Meta: Value is too long (limit: 512 characters)`);
  }
}

function multiError(errors: string[]): string {
  const n = errors.length;
  return `${n} error${n === 1 ? '' : 's'} occurred:\n${errors.map((e) => `\t* ${e}`).join('\n')}\n\n`;
}

/** Decode and validate a service registration; returns the service and, for Connect.SidecarService, its sidecar. */
export function decodeService(raw: unknown, opts: { minIntervalMs: number; sidecarPort: (svcAddress: string) => number; isSidecar?: string }): ServiceDef[] {
  const o = obj(raw);
  if (!o) throw badRequest('Request decode failed: json: cannot unmarshal into Go value of type structs.ServiceDefinition');
  const name = str(field(o, 'Name'));
  if (name === '') throw badRequest('Missing service name');
  const id = opts.isSidecar ? `${opts.isSidecar}-sidecar-proxy` : (str(field(o, 'ID')) || name);
  const address = str(field(o, 'Address'));
  if (address === '0.0.0.0' || address === '::' || address === '[::]') throw badRequest('Invalid service address');
  const wRaw = obj(field(o, 'Weights'));
  const weights: Weights = wRaw ? { Passing: num(field(wRaw, 'Passing')), Warning: num(field(wRaw, 'Warning')) } : { Passing: 1, Warning: 1 };
  if (wRaw) {
    if (weights.Passing < 1) throw badRequest('Invalid Weights: Passing must be greater than 0');
    if (weights.Warning < 0) throw badRequest('Invalid Weights: Warning must be greater or equal than 0');
  }
  const meta = strMap(field(o, 'Meta'));
  validateMeta(meta);
  const tagsRaw = field(o, 'Tags');
  const tags = Array.isArray(tagsRaw) ? tagsRaw.map(String) : null;
  const kind = str(field(o, 'Kind'));
  const port = num(field(o, 'Port'));
  const socketPath = str(field(o, 'SocketPath'));
  const proxy = decodeProxy(field(o, 'Proxy'));
  const connectRaw = obj(field(o, 'Connect'));
  const native = field(connectRaw, 'Native') === true;
  const taRaw = obj(field(o, 'TaggedAddresses'));
  const tagged = taRaw ? Object.fromEntries(Object.entries(taRaw).map(([k, v]) => [k, { address: str(field(v, 'Address')), port: num(field(v, 'Port')) }])) : undefined;

  const errors: string[] = [];
  if (kind === 'connect-proxy') {
    if (port === 0 && socketPath === '') errors.push('Port or SocketPath must be set for a connect-proxy');
    const dest = String(proxy?.['DestinationServiceName'] ?? '');
    if (dest === '') errors.push('Proxy.DestinationServiceName must be non-empty for Connect proxy services');
    if (dest === '*') errors.push('Proxy.DestinationServiceName must not be a wildcard for Connect proxy services');
    if (native) errors.push('A Proxy cannot also be Connect Native, only typical services');
    const seen = new Set<string>();
    const binds = new Set<string>();
    for (const u of (proxy?.['Upstreams'] as Obj[] | undefined) ?? []) {
      const key = `${String(u['DestinationType'])}:${String(u['DestinationName'])}:${String(u['Datacenter'] ?? '')}`;
      if (seen.has(key)) errors.push(`upstreams cannot contain duplicates of ${String(u['DestinationType'])} "${String(u['DestinationName'])}"`);
      seen.add(key);
      const bind = `${String(u['LocalBindAddress'] ?? '')}:${String(u['LocalBindPort'])}`;
      if (binds.has(bind)) errors.push(`upstreams cannot contain duplicates by local bind address and port or unix path; ${bind} is specified twice`);
      binds.add(bind);
    }
  } else if (native && port === 0 && socketPath === '') {
    errors.push('Port or SocketPath must be set for a Connect native service.');
  }
  if (errors.length > 0) throw badRequest(`Validation failed: ${multiError(errors)}`);

  const checksRaw: unknown[] = [];
  const one = field(o, 'Check');
  if (obj(one)) checksRaw.push(one);
  const many = field(o, 'Checks');
  if (Array.isArray(many)) checksRaw.push(...many);
  const checks = checksRaw.map((c, i) => decodeCheck(c, { serviceId: id, serviceName: name, checkCount: checksRaw.length, index: i }, opts));

  const svc: ServiceDef = {
    Kind: kind, ID: id, Name: name, Tags: tags, Address: address, TaggedAddresses: tagged, Meta: meta,
    Port: port, SocketPath: socketPath, Weights: weights, EnableTagOverride: field(o, 'EnableTagOverride') === true,
    Proxy: kind === 'connect-proxy' ? proxy : undefined,
    Connect: native ? { Native: true } : undefined,
    checks,
    ...(opts.isSidecar ? { sidecarOf: opts.isSidecar } : {}),
  };
  const out = [svc];
  const sidecarRaw = obj(field(connectRaw, 'SidecarService'));
  if (sidecarRaw && !opts.isSidecar) out.push(decodeSidecar(svc, sidecarRaw, opts));
  else if (sidecarRaw) throw badRequest('Invalid SidecarService: A SidecarService cannot have a nested SidecarService');
  return out;
}

/** Connect.SidecarService → a connect-proxy service (agent/sidecar_service.go). */
function decodeSidecar(parent: ServiceDef, raw: Obj, opts: { minIntervalMs: number; sidecarPort: (a: string) => number }): ServiceDef {
  if (str(field(raw, 'ID')) !== '') throw badRequest('Invalid SidecarService: A SidecarService cannot specify an ID as this is managed by the agent');
  const merged: Obj = { ...raw, Name: str(field(raw, 'Name')) || `${parent.Name}-sidecar-proxy`, Kind: 'connect-proxy' };
  if (field(raw, 'Address') === undefined) merged['Address'] = parent.Address;
  if (field(raw, 'Tags') === undefined && parent.Tags) merged['Tags'] = parent.Tags;
  if (field(raw, 'Meta') === undefined && parent.Meta) merged['Meta'] = parent.Meta;
  const proxy = { ...(obj(field(raw, 'Proxy')) ?? {}) };
  proxy['DestinationServiceName'] = parent.Name;
  proxy['DestinationServiceID'] = parent.ID;
  if (!field(proxy, 'LocalServiceAddress')) proxy['LocalServiceAddress'] = '127.0.0.1';
  if (!field(proxy, 'LocalServicePort')) proxy['LocalServicePort'] = parent.Port;
  for (const k of Object.keys(proxy)) if (['destinationservicename', 'destinationserviceid'].includes(norm(k)) && k !== 'DestinationServiceName' && k !== 'DestinationServiceID') delete proxy[k];
  merged['Proxy'] = proxy;
  if (!num(field(raw, 'Port'))) merged['Port'] = opts.sidecarPort(String(merged['Address'] ?? ''));
  const hasChecks = field(raw, 'Check') !== undefined || (Array.isArray(field(raw, 'Checks')) && (field(raw, 'Checks') as unknown[]).length > 0);
  if (!hasChecks) {
    const addr = String(merged['Address'] || '127.0.0.1');
    merged['Checks'] = [
      { Name: 'Connect Sidecar Listening', TCP: `${addr}:${String(merged['Port'])}`, Interval: '10s' },
      { Name: `Connect Sidecar Aliasing ${parent.ID}`, AliasService: parent.ID },
    ];
    for (const k of Object.keys(merged)) if (norm(k) === 'check') delete merged[k];
  }
  return decodeService(merged, { ...opts, isSidecar: parent.ID })[0]!;
}
