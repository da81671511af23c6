/** The liveness rule and the registry sweep, with explicit times. */
import t from 'tap';
import { AgentRegistry } from '../../../src/coordinator/agent-registry.ts';
import { livenessOf, validateLiveness } from '../../../src/coordinator/liveness.ts';
import type { AgentRecord } from '../../../src/coordinator/model.ts';

const rule = { staleAfterIntervals: 3, removeAfterIntervals: 10 };

t.test('livenessOf', async (t) => {
  const r = { lastSeenMs: 0, intervalMs: 100 };
  t.equal(livenessOf(r, 300, rule), 'up', 'exactly three intervals is still up');
  t.equal(livenessOf(r, 301, rule), 'stale');
  t.equal(livenessOf(r, 1000, rule), 'stale');
  t.equal(livenessOf(r, 1001, rule), 'gone');
  t.throws(() => validateLiveness({ staleAfterIntervals: 3, removeAfterIntervals: 3 }));
  t.throws(() => validateLiveness({ staleAfterIntervals: 0, removeAfterIntervals: 3 }));
});

t.test('sweep reports each agent going stale once, then its removal', async (t) => {
  const reg = new AgentRegistry(rule);
  reg.upsert({ agentId: 'a', lastSeenMs: 0, intervalMs: 100 } as AgentRecord);
  reg.upsert({ agentId: 'b', lastSeenMs: 0, intervalMs: 1000 } as AgentRecord);
  t.same(reg.sweep(200), { removed: [], becameStale: [] });
  t.same(reg.sweep(400), { removed: [], becameStale: ['a'] });
  t.same(reg.sweep(500), { removed: [], becameStale: [] }, 'not reported twice');
  reg.upsert({ agentId: 'a', lastSeenMs: 600, intervalMs: 100 } as AgentRecord);
  t.same(reg.sweep(1000), { removed: [], becameStale: ['a'] }, 'a report revives it; silence makes it stale again');
  t.same(reg.sweep(1700), { removed: ['a'], becameStale: [] });
  t.equal(reg.size, 1);
  t.equal(reg.get('a'), undefined);
  t.ok(reg.get('b'));
});
