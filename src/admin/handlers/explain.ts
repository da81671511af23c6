/**
 * /explain: either a hypothetical request (upstream, method, path, headers,
 * peer: explain/simulate.ts), a recent real one (request_id:
 * explain/recent.ts), or transparent mode's capture (`transparent`: the
 * policy, the capture index, the counts by result and the last destinations
 * that were not mesh services, i.e. what passed through or was blocked).
 */
import type { AdminHandler } from '../routes.ts';
import { parseExplainQuery } from '../explain/query.ts';
import { explainRecorded } from '../explain/recent.ts';
import { explainRequest, findStack } from '../explain/simulate.ts';

export const explain: AdminHandler = (req, { agent }) => {
  const p = req.url.searchParams;
  if (p.has('transparent')) {
    if (agent.capture === undefined) return { status: 404, body: { error: 'not_found', detail: 'transparent mode is off (transparent.enabled / --transparent)' } };
    return { status: 200, body: agent.capture.explain() };
  }
  const id = p.get('request_id');
  if (id !== null) {
    const r = agent.recentRequests.get(id);
    if (r === undefined) {
      return { status: 404, body: { error: 'not_found', detail: `no recent request with id ${id}; the agent keeps the last ${agent.recentRequests.capacity}`, recent: agent.recentRequests.recent(5).map((x) => x.requestId) } };
    }
    return { status: 200, body: explainRecorded(r) };
  }
  const q = parseExplainQuery(p);
  if ('error' in q) return { status: 400, body: { error: 'bad_request', detail: q.error } };
  const known = [...agent.stacks.values()].map((s) => s.cluster.name);
  if (q.upstream === undefined && q.listener === undefined) {
    return { status: 400, body: { error: 'bad_request', detail: 'give upstream=NAME (or request_id=ID, or transparent)', upstreams: known } };
  }
  const found = findStack(agent.stacks, q);
  if (found === undefined) {
    return { status: 404, body: { error: 'not_found', detail: `no listener for ${q.listener ?? q.upstream}`, upstreams: known, listeners: [...agent.stacks.keys()] } };
  }
  return { status: 200, body: explainRequest(found[0], found[1], q) };
};
