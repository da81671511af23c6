/**
 * KV endpoints (SPEC §11): GET (single, ?recurse, ?keys, ?raw; a missing key
 * is 404 with X-Consul-Index so it can block), PUT (?flags, ?cas, ?acquire,
 * ?release, 512 KiB cap) and DELETE (?recurse, ?cas).
 */
import { badRequest, HttpError, type Req } from '../http.ts';
import { authz, serverRead, type Ctx, type Route } from '../context.ts';
import type { KvEntry } from '../types.ts';

const MAX_VALUE = 512 * 1024;

function render(e: KvEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex, LockIndex: e.LockIndex, Key: e.Key, Flags: e.Flags,
    Value: e.Value === null ? null : e.Value.toString('base64'),
  };
  if (e.Session) out['Session'] = e.Session;
  return out;
}

function get(req: Req, ctx: Ctx) {
  const key = req.param;
  const recurse = req.has('recurse');
  const keys = req.has('keys');
  if (key === '' && !recurse && !keys) throw badRequest('Missing key name');
  return serverRead(req, ctx, () => {
    const { store } = ctx.cluster;
    const a = authz(req, ctx);
    const tableIdx = store.maxIndex(['kvs']);
    if (keys) {
      const sep = req.get('separator') ?? '';
      const out = new Set<string>();
      let max = 0;
      for (const [k, e] of store.kv) {
        if (!k.startsWith(key) || !a.allowed('key', k, 'read')) continue;
        max = Math.max(max, e.ModifyIndex);
        const at = sep === '' ? -1 : k.indexOf(sep, key.length);
        out.add(at < 0 ? k : k.slice(0, at + sep.length));
      }
      const list = [...out].sort();
      if (list.length === 0 && key !== '') return { index: tableIdx, body: undefined, status: 404 };
      return { index: max || tableIdx, body: list };
    }
    if (recurse) {
      const list = [...store.kv.values()].filter((e) => e.Key.startsWith(key) && a.allowed('key', e.Key, 'read')).sort((x, y) => (x.Key < y.Key ? -1 : 1));
      if (list.length === 0) return { index: tableIdx, body: undefined, status: 404 };
      return { index: Math.max(...list.map((e) => e.ModifyIndex)), body: list.map(render) };
    }
    a.require('key', key, 'read');
    const e = store.kv.get(key);
    if (!e) return { index: tableIdx, body: undefined, status: 404 };
    return { index: e.ModifyIndex, body: [render(e)] };
  }).then((reply) => {
    if (!req.has('raw') || reply.status === 404) return reply;
    const e = ctx.cluster.store.kv.get(key);
    return { ...reply, body: undefined, raw: { contentType: 'text/plain', data: e?.Value ?? Buffer.alloc(0), headers: { 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': 'sandbox' } } };
  });
}

function uintParam(req: Req, name: string): number | undefined {
  const v = req.get(name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw badRequest(`Invalid ${name} value`);
  return Number(v);
}

async function put(req: Req, ctx: Ctx) {
  const key = req.param;
  if (key === '') throw badRequest('Missing key name');
  const conflicting = ['cas', 'acquire', 'release'].filter((f) => req.has(f)).length > 1;
  if (conflicting) throw badRequest(`Conflicting flags: ${req.query.toString()}`);
  const body = await req.body();
  if (body.length > MAX_VALUE) {
    throw new HttpError(413, `Request body(${body.length} bytes) too large, max size: ${MAX_VALUE} bytes. See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.`);
  }
  authz(req, ctx).require('key', key, 'write');
  const { store, sessions } = ctx.cluster;
  const flags = uintParam(req, 'flags') ?? 0;
  const cas = uintParam(req, 'cas');
  const cur = store.kv.get(key);
  if (cas !== undefined && (cas === 0 ? cur !== undefined : cur?.ModifyIndex !== cas)) return { body: false };
  const acquire = req.get('acquire');
  const release = req.get('release');
  if (acquire !== undefined) {
    if (!sessions.get(acquire)) throw new HttpError(500, `invalid session "${acquire}"`);
    if (cur?.Session && cur.Session !== acquire) return { body: false };
    if (!cur?.Session && (sessions.lockDelayUntil.get(key) ?? 0) > Date.now()) return { body: false };
  }
  if (release !== undefined && cur?.Session !== release) return { body: false };
  store.write(['kvs'], (idx) => {
    const next: KvEntry = {
      Key: key, Flags: flags, Value: body, LockIndex: cur?.LockIndex ?? 0, Session: cur?.Session,
      CreateIndex: cur?.CreateIndex ?? idx, ModifyIndex: idx,
    };
    if (acquire !== undefined && cur?.Session !== acquire) { next.LockIndex += 1; next.Session = acquire; }
    if (release !== undefined) next.Session = undefined;
    store.kv.set(key, next);
  });
  return { body: true };
}

function del(req: Req, ctx: Ctx) {
  const key = req.param;
  const recurse = req.has('recurse');
  const cas = uintParam(req, 'cas');
  if (recurse && cas !== undefined) throw badRequest(`Conflicting flags: ${req.query.toString()}`);
  if (key === '' && !recurse) throw badRequest('Missing key name');
  authz(req, ctx).require('key', key, 'write');
  const { store } = ctx.cluster;
  if (cas !== undefined) {
    const cur = store.kv.get(key);
    if (cas === 0 || !cur || cur.ModifyIndex !== cas) return { body: false };
  }
  store.write(['kvs'], () => {
    if (recurse) { for (const k of [...store.kv.keys()]) if (k.startsWith(key)) store.kv.delete(k); }
    else store.kv.delete(key);
  });
  return { body: true };
}

export const kvRoutes: Route[] = [
  {
    path: '/v1/kv/', prefix: true, methods: ['GET', 'PUT', 'DELETE'],
    handler: (req, ctx) => (req.method === 'GET' ? get(req, ctx) : req.method === 'PUT' ? put(req, ctx) : del(req, ctx)),
  },
];
