/**
 * Where each workload kind keeps its pod: `aim-mesh inject` runs the webhook's
 * injection on that pod template and re-roots the patch under this path.
 * Lists (kind: List, or any *List with items) are walked item by item; every
 * other kind passes through untouched.
 */

const TEMPLATE: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export const WORKLOAD_KINDS: readonly string[] = Object.keys(TEMPLATE);

export interface PodSite {
  /** JSON Pointer tokens from the document root to the pod (template). */
  readonly path: readonly (string | number)[];
  readonly kind: string;
  readonly name: string;
  readonly pod: unknown;
}

export interface Passed {
  readonly kind: string;
  readonly name: string;
}

function get(obj: unknown, tokens: readonly (string | number)[]): unknown {
  let v = obj;
  for (const t of tokens) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[t];
  }
  return v;
}

/** Find every pod (template) in a document; kinds that hold none are listed in `passed`. */
export function findPods(root: unknown, base: readonly (string | number)[] = [], sites: PodSite[] = [], passed: Passed[] = []): { sites: PodSite[]; passed: Passed[] } {
  if (root === null || typeof root !== 'object') return { sites, passed };
  const o = root as { kind?: unknown; metadata?: { name?: unknown }; items?: unknown };
  const kind = typeof o.kind === 'string' ? o.kind : '';
  const name = typeof o.metadata?.name === 'string' ? o.metadata.name : '';
  if ((kind === 'List' || kind.endsWith('List')) && Array.isArray(o.items)) {
    o.items.forEach((item, i) => findPods(item, [...base, 'items', i], sites, passed));
    return { sites, passed };
  }
  const rel = TEMPLATE[kind];
  if (rel === undefined) passed.push({ kind: kind || '(no kind)', name });
  else sites.push({ path: [...base, ...rel], kind, name, pod: rel.length === 0 ? root : get(root, rel) });
  return { sites, passed };
}
