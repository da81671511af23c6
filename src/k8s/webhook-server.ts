/**
 * The injection webhook's HTTPS server. Routes:
 *   POST /inject          pods in namespaces without the aim-mesh.io/inject label
 *                         (only pods annotated aim-mesh.io/inject: enabled are injected)
 *   POST /inject/enabled  pods in namespaces labelled aim-mesh.io/inject=enabled
 *   GET  /healthz         liveness/readiness of the injector
 * The chart's MutatingWebhookConfiguration has one webhook per path, told
 * apart by namespaceSelector, so the injector needs no API access to read
 * namespace labels.
 *
 * The certificate and key are re-read when the files change (a Secret volume
 * update, cert-manager renewal) and swapped in with setSecureContext, without
 * dropping connections.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../telemetry/log.ts';
import { BadReview, reviewAdmission } from './admission.ts';
import type { InjectorConfig } from './config.ts';
import { MAX_REVIEW_BYTES } from './defaults.ts';

export interface WebhookOptions {
  readonly host: string;
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly config: InjectorConfig;
  readonly version: string;
  readonly log: Logger;
  /** How often to stat the cert and key files for changes (ms). */
  readonly reloadIntervalMs?: number;
}

export interface WebhookServer {
  readonly address: AddressInfo;
  readonly server: Server;
  /** Re-read cert and key now; false (and the old pair kept) when they do not load. */
  reloadTls(): boolean;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startWebhook(opts: WebhookOptions): Promise<WebhookServer> {
  const { config, log } = opts;
  const readPair = (): { cert: Buffer; key: Buffer } => ({ cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile) });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return req.method === 'GET' ? send(res, 200, 'ok\n') : send(res, 405, 'GET only\n');
    if (path !== '/inject' && path !== '/inject/enabled') return send(res, 404, 'not found\n');
    if (req.method !== 'POST') return send(res, 405, 'POST an AdmissionReview\n');
    const body = await readBody(req, MAX_REVIEW_BYTES);
    if (body === undefined) return send(res, 413, `AdmissionReview larger than ${MAX_REVIEW_BYTES} bytes\n`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      log.warn({ path }, 'admission request is not JSON');
      return send(res, 400, 'the body is not JSON\n');
    }
    try {
      const out = reviewAdmission(parsed, config, { namespaceEnabled: path === '/inject/enabled', version: opts.version });
      const r = out.result;
      log.info({
        uid: out.review.response.uid, namespace: out.namespace, pod: out.pod,
        outcome: r?.outcome ?? 'ignored', reason: r?.reason, allowed: out.review.response.allowed,
        warnings: out.review.response.warnings?.length ?? 0,
      }, 'admission review');
      send(res, 200, JSON.stringify(out.review), 'application/json');
    } catch (err) {
      if (!(err instanceof BadReview)) throw err;
      log.warn({ path, err: err.message }, 'bad admission request');
      send(res, 400, `${err.message}\n`);
    }
  };

  const server = createServer({ ...readPair(), minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'webhook handler failed');
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 30_000;

  const reloadTls = (): boolean => {
    try {
      server.setSecureContext({ ...readPair(), minVersion: 'TLSv1.2' });
      log.info({ cert: opts.certFile }, 'webhook certificate reloaded');
      return true;
    } catch (err) {
      log.error({ err, cert: opts.certFile }, 'webhook certificate reload failed; keeping the previous one');
      return false;
    }
  };
  const onCertChange = (): void => { reloadTls(); };
  // Watch both: a non-atomic update (cert first, key later) fails once, then loads.
  for (const f of [opts.certFile, opts.keyFile]) watchFile(f, { interval: opts.reloadIntervalMs ?? 10_000, persistent: false }, onCertChange);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  return {
    address: server.address() as AddressInfo,
    server,
    reloadTls,
    close: () => new Promise<void>((resolve) => {
      for (const f of [opts.certFile, opts.keyFile]) unwatchFile(f, onCertChange);
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}
