/**
 * Decoding and validating check definitions (agent/structs CheckType):
 * the checks of a service registration and `PUT /v1/agent/check/register`.
 */
import { formatGoDuration } from './duration.ts';
import { badRequest } from './http.ts';
import { dur, field, num, obj, str } from './fields.ts';
import { CHECK_STATUSES, type CheckStatus } from './types.ts';

export interface CheckDef {
  CheckID: string;
  Name: string;
  Notes: string;
  Status: CheckStatus;
  /** Status was given in the definition (a re-registration without it keeps the current status). */
  statusGiven: boolean;
  ServiceID: string;
  type: 'ttl' | 'http' | 'tcp' | 'grpc' | 'alias' | 'script' | 'h2ping' | 'udp' | 'maintenance';
  ttlMs?: number;
  intervalMs?: number;
  timeoutMs: number;
  http?: { url: string; method: string; header: Record<string, string[]>; body: string };
  tcp?: string;
  aliasService?: string;
  deregisterAfterMs?: number;
  outputMaxSize: number;
  /** The raw definition fields for `Definition`/`Interval`/`Timeout` rendering. */
  Interval: string;
  Timeout: string;
}

export interface ServiceDefaults { serviceId: string; serviceName: string; checkCount: number; index: number }

/** Decode one check of a service or of /agent/check/register. */
export function decodeCheck(raw: unknown, d: ServiceDefaults | undefined, opts: { minIntervalMs: number }): CheckDef {
  const o = obj(raw) ?? {};
  const status = str(field(o, 'Status'));
  if (status !== '' && !CHECK_STATUSES.includes(status)) {
    throw badRequest(d ? "Status for checks must 'passing', 'warning', 'critical'" : 'Bad check status');
  }
  const ttlMs = dur(o, 'TTL', 'TTL');
  let intervalMs = dur(o, 'Interval', 'Interval');
  const timeoutMs = dur(o, 'Timeout', 'Timeout') ?? 10_000;
  const http = str(field(o, 'HTTP'));
  const tcp = str(field(o, 'TCP'));
  const grpc = str(field(o, 'GRPC'));
  const h2ping = str(field(o, 'H2PING'));
  const udp = str(field(o, 'UDP'));
  const args = field(o, 'Args', 'ScriptArgs');
  const aliasService = str(field(o, 'AliasService'));
  const isScript = Array.isArray(args) && args.length > 0;
  const intervalCheck = isScript || http !== '' || tcp !== '' || grpc !== '' || h2ping !== '' || udp !== '';
  let type: CheckDef['type'];
  if ((intervalMs ?? 0) > 0 && (ttlMs ?? 0) > 0) throw badRequest('Invalid check: Interval and TTL cannot both be specified');
  if (intervalCheck && !((intervalMs ?? 0) > 0)) throw badRequest('Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks');
  if (aliasService !== '') {
    if ((ttlMs ?? 0) > 0) throw badRequest('Invalid check: TTL must be not be set for Alias checks');
    if ((intervalMs ?? 0) > 0) throw badRequest('Invalid check: Interval cannot be set for Alias checks');
    type = 'alias';
  } else if ((ttlMs ?? 0) > 0) type = 'ttl';
  else if (http !== '') type = 'http';
  else if (tcp !== '') type = 'tcp';
  else if (grpc !== '') type = 'grpc';
  else if (h2ping !== '') type = 'h2ping';
  else if (udp !== '') type = 'udp';
  else if (isScript) type = 'script';
  else throw badRequest('Invalid check: must be one of (Script, HTTP, TCP, UDP, TTL, GRPC, H2PING, Alias)');
  if (intervalMs !== undefined && intervalMs > 0 && intervalMs < opts.minIntervalMs) intervalMs = opts.minIntervalMs;

  let serviceId = str(field(o, 'ServiceID'));
  let id = str(field(o, 'CheckID', 'ID'));
  let name = str(field(o, 'Name'));
  if (d) {
    serviceId = d.serviceId;
    if (id === '') id = d.checkCount > 1 ? `service:${d.serviceId}:${d.index + 1}` : `service:${d.serviceId}`;
    if (name === '') name = `Service '${d.serviceName}' check`;
  } else {
    if (name === '') throw badRequest('Missing check name');
    if (id === '') id = name;
  }
  const header = obj(field(o, 'Header')) ?? {};
  return {
    CheckID: id,
    Name: name,
    Notes: str(field(o, 'Notes')),
    Status: (status || 'critical') as CheckStatus,
    statusGiven: status !== '',
    ServiceID: serviceId,
    type,
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    ...(intervalMs !== undefined ? { intervalMs } : {}),
    timeoutMs,
    ...(http !== '' ? { http: {
      url: http,
      method: str(field(o, 'Method')) || 'GET',
      header: Object.fromEntries(Object.entries(header).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : [String(v)]])),
      body: str(field(o, 'Body')),
    } } : {}),
    ...(tcp !== '' ? { tcp } : {}),
    ...(aliasService !== '' ? { aliasService } : {}),
    ...(dur(o, 'DeregisterCriticalServiceAfter', 'DeregisterCriticalServiceAfter') ? { deregisterAfterMs: dur(o, 'DeregisterCriticalServiceAfter', '')! } : {}),
    outputMaxSize: num(field(o, 'OutputMaxSize')) || 4096,
    Interval: intervalMs ? formatGoDuration(intervalMs) : '',
    Timeout: intervalCheck ? formatGoDuration(timeoutMs) : '',
  };
}

