/**
 * Manual injection over Kubernetes YAML (`aim-mesh inject`): read a stream of
 * documents, inject every pod template with the webhook's own planInjection,
 * and write the documents back. Documents the injector does not change are
 * written back byte for byte (from the lossless CST). In a changed document the
 * patch is applied to the parsed YAML tree, not to a re-serialised object, so
 * its comments, key order and quoting survive too. A second run finds the
 * aim-mesh.io/injected annotation and changes nothing.
 */
import type { Document, Node } from 'yaml';
import { CST, isMap, isSeq, parseAllDocuments, Parser } from 'yaml';
import type { InjectorConfig } from './config.ts';
import type { InjectionResult } from './inject.ts';
import { planInjection } from './inject.ts';
import type { JsonPatch } from './json-patch.ts';
import { parsePointer, pointer, prefixPatch } from './json-patch.ts';
import { findPods } from './workloads.ts';

export interface WorkloadReport {
  readonly document: number;
  readonly kind: string;
  readonly name: string;
  /** injected | skipped | invalid | passed (not a workload kind). */
  readonly outcome: InjectionResult['outcome'] | 'passed';
  readonly reason: string;
  readonly warnings: readonly string[];
}

export interface ManifestResult {
  readonly output: string;
  readonly reports: readonly WorkloadReport[];
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

function nodeAt(doc: Document, tokens: readonly string[]): unknown {
  let node: unknown = doc.contents;
  for (const t of tokens) {
    if (isSeq(node)) node = node.items[Number(t)];
    else if (isMap(node)) node = node.get(t, true);
    else throw new ManifestError(`cannot follow ${pointer(tokens)} in the YAML tree (aliases are not supported)`);
  }
  return node;
}

/** Apply `add` operations to a YAML document in place. */
export function applyToYaml(doc: Document, patch: JsonPatch): void {
  for (const op of patch) {
    const tokens = parsePointer(op.path);
    const last = tokens.pop();
    if (last === undefined) throw new ManifestError('cannot replace a whole document');
    const parent = nodeAt(doc, tokens);
    const value = doc.createNode(op.value) as Node;
    if (isSeq(parent)) {
      if (last === '-') parent.items.push(value);
      else {
        const i = Number(last);
        if (!Number.isInteger(i) || i < 0 || i > parent.items.length) throw new ManifestError(`index ${last} out of range at ${op.path}`);
        parent.items.splice(i, 0, value);
      }
    } else if (isMap(parent)) parent.set(last, value);
    else throw new ManifestError(`nothing to add into at ${op.path}`);
  }
}

export function injectManifests(text: string, cfg: InjectorConfig, version: string): ManifestResult {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) return { output: text, reports: [] };
  const reports: WorkloadReport[] = [];
  const changed = new Set<number>();
  docs.forEach((doc, index) => {
    const document = index + 1;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      throw new ManifestError(`document ${document}: ${e.message.split('\n')[0]}`);
    }
    const { sites, passed } = findPods(doc.toJS());
    for (const p of passed) if (doc.contents !== null) reports.push({ document, ...p, outcome: 'passed', reason: 'not a workload', warnings: [] });
    for (const site of sites) {
      const r = planInjection(site.pod, cfg, { namespaceEnabled: true, version });
      reports.push({ document, kind: site.kind, name: site.name, outcome: r.outcome, reason: r.reason, warnings: r.warnings });
      if (r.outcome === 'injected') {
        applyToYaml(doc, prefixPatch(pointer(site.path), r.patch));
        changed.add(index);
      }
    }
  });
  if (changed.size === 0) return { output: text, reports };
  // The composer makes one Document per CST document token, in order.
  let output = '';
  let index = 0;
  for (const token of new Parser().parse(text)) {
    if (token.type === 'document') {
      output += changed.has(index) ? docs[index]!.toString() : CST.stringify(token);
      index++;
    } else output += CST.stringify(token);
  }
  return { output, reports };
}
