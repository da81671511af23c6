/**
 * The request path of the Consul-API test server: decode the path (routing is
 * on the decoded path, like Go), log the request, apply injected faults
 * (slow, 500, malformed), route (404 for unknown paths, OPTIONS, 405 with
 * Allow), run the handler and write its reply or its plain-text error.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Ctx } from './context.ts';
import { malformedBody, type Faults } from './faults.ts';
import { HttpError, makeReq, writeError, writeReply, type Req, type WriteOptions } from './http.ts';
import type { Router } from './router.ts';
import type { RequestRecord } from './server-api.ts';
import type { ConsulStore } from './store.ts';

export interface HandlerDeps {
  readonly faults: Faults;
  readonly router: Router;
  readonly requests: RequestRecord[];
  readonly store: ConsulStore;
  ctx(): Ctx;
  writeOpts(): WriteOptions;
}

export function createHandler(d: HandlerDeps): (raw: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { faults, router, requests, store } = d;
  const writeOpts = d.writeOpts;
  return async (raw: IncomingMessage, res: ServerResponse): Promise<void> => {
    const ac = new AbortController();
    res.on('close', () => { if (!res.writableFinished) ac.abort(); });
    const rec: RequestRecord = { method: raw.method ?? 'GET', path: '', query: '', at: Date.now(), status: 0 };
    res.on('finish', () => { rec.status = res.statusCode; });
    let req: Req;
    try {
      req = makeReq(raw, ac.signal);
    } catch (e) {
      writeError(res, e as HttpError, writeOpts());
      return;
    }
    rec.path = req.path;
    rec.query = req.query.toString();
    requests.push(rec);
    if (requests.length > 50_000) requests.splice(0, 10_000);
    try {
      const delay = faults.delayFor(req.path);
      if (delay > 0) await sleep(delay, undefined, { signal: ac.signal });
      const err = faults.errorFor(req.path);
      if (err !== undefined) throw new HttpError(500, err);
      const bad = faults.malformedFor(req.path);
      if (bad !== undefined) {
        const body = malformedBody(bad);
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Consul-Index': String(store.index), 'X-Consul-Knownleader': 'true', 'X-Consul-Lastcontact': '0', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      const found = router.find(req.path);
      if (!found) {
        const msg = req.path.includes('/v1/') ? 'Invalid URL path: not a recognized HTTP API endpoint\n' : "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n";
        throw new HttpError(404, msg);
      }
      req.param = found.param;
      const allow = ['OPTIONS', ...found.route.methods];
      if (req.method === 'OPTIONS') { res.writeHead(200, { Allow: allow.join(','), 'Content-Length': 0 }); res.end(); return; }
      if (!found.route.methods.includes(req.method)) throw new HttpError(405, `method ${req.method} not allowed`, { allow });
      const reply = await found.route.handler(req, d.ctx());
      if (!ac.signal.aborted) writeReply(res, req, reply, writeOpts());
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof HttpError) writeError(res, e, writeOpts());
      else writeError(res, new HttpError(500, (e as Error).message ?? String(e)), writeOpts());
    }
  };
}
