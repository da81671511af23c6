/**
 * AdmissionReview v1 in, AdmissionReview v1 out (pure; the HTTPS server is
 * webhook-server.ts). Policy for input the injector cannot use:
 *  - not a Pod CREATE (a misconfigured webhook rule): allowed, untouched, with a warning;
 *  - a pod the injector cannot inject correctly (bad annotation, no service
 *    name, port clash): with failurePolicy Ignore, allowed and not injected,
 *    with warnings that say why; with Fail, refused with the same message.
 * A body that is not an AdmissionReview at all (no request.uid) throws
 * BadReview: there is nothing to answer to, so the server returns HTTP 400 and
 * the API server applies the webhook's failurePolicy.
 */
import type { InjectorConfig } from './config.ts';
import type { InjectionResult } from './inject.ts';
import { planInjection } from './inject.ts';

export class BadReview extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadReview';
  }
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

export interface AdmissionReviewOut {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export interface ReviewOutcome {
  readonly review: AdmissionReviewOut;
  /** For the log line: what happened to the pod. */
  readonly result: InjectionResult | undefined;
  readonly pod: string;
  readonly namespace: string;
}

interface ReviewRequest {
  uid?: unknown;
  kind?: { group?: unknown; kind?: unknown };
  operation?: unknown;
  namespace?: unknown;
  name?: unknown;
  subResource?: unknown;
  object?: { metadata?: { name?: unknown; generateName?: unknown } };
}

/** Warnings are shown by kubectl; keep each short and prefixed. */
const warn = (s: string): string => `aim-mesh: ${s}`.slice(0, 250);

export function reviewAdmission(body: unknown, cfg: InjectorConfig, opts: { namespaceEnabled: boolean; version: string }): ReviewOutcome {
  const b = body as { apiVersion?: unknown; kind?: unknown; request?: ReviewRequest } | null;
  if (b === null || typeof b !== 'object' || b.kind !== 'AdmissionReview') throw new BadReview('the body is not an AdmissionReview');
  if (b.apiVersion !== 'admission.k8s.io/v1') throw new BadReview(`AdmissionReview apiVersion ${JSON.stringify(b.apiVersion)} is not admission.k8s.io/v1`);
  const req = b.request;
  if (req === undefined || req === null || typeof req !== 'object' || typeof req.uid !== 'string' || req.uid === '') {
    throw new BadReview('the AdmissionReview has no request.uid');
  }
  const uid = req.uid;
  const namespace = typeof req.namespace === 'string' ? req.namespace : '';
  const meta = req.object?.metadata;
  const pod = typeof meta?.name === 'string' && meta.name !== '' ? meta.name : typeof meta?.generateName === 'string' ? `${meta.generateName}*` : '';
  const out = (response: Omit<AdmissionResponse, 'uid'>, result?: InjectionResult): ReviewOutcome => ({
    review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } },
    result, pod, namespace,
  });

  const isPod = (req.kind?.group === '' || req.kind?.group === undefined) && req.kind?.kind === 'Pod';
  if (!isPod || req.operation !== 'CREATE' || (req.subResource !== undefined && req.subResource !== '')) {
    return out({ allowed: true, warnings: [warn(`the injector only handles Pod CREATE; got ${String(req.kind?.kind)} ${String(req.operation)}; check the webhook rules`)] });
  }

  const result = planInjection(req.object, cfg, opts);
  const warnings = result.warnings.map(warn);
  if (result.outcome === 'invalid') {
    const message = `not injected: ${result.errors.join('; ')}`;
    if (cfg.failurePolicy === 'Fail') return out({ allowed: false, status: { code: 400, message: `aim-mesh: ${message}` }, ...(warnings.length ? { warnings } : {}) }, result);
    return out({ allowed: true, warnings: [...warnings, warn(message)] }, result);
  }
  if (result.outcome === 'skipped') return out({ allowed: true, ...(warnings.length ? { warnings } : {}) }, result);
  return out({
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(result.patch)).toString('base64'),
    ...(warnings.length ? { warnings } : {}),
  }, result);
}
