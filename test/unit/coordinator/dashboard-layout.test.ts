/** The dashboard's layered layout (plain browser JS, importable in Node): callers left of callees, cycles cut. */
import t from 'tap';

const url = new URL('../../../src/coordinator/dashboard/topology.js', import.meta.url).href;
const { layout, healthClass } = await import(url) as {
  layout: (s: { name: string }[], e: { source: string; destination: string }[]) => { pos: Map<string, { x: number; y: number }> };
  healthClass: (m: { requests: number; successRate: number } | null, objective: number) => string;
};

t.test('a DAG is laid out in layers', async (t) => {
  const s = ['web', 'api', 'db', 'auth'].map((name) => ({ name }));
  const { pos } = layout(s, [{ source: 'web', destination: 'api' }, { source: 'api', destination: 'db' }, { source: 'web', destination: 'auth' }, { source: 'web', destination: 'db' }]);
  t.ok(pos.get('web')!.x < pos.get('api')!.x && pos.get('api')!.x < pos.get('db')!.x, 'longest path decides the layer');
  t.equal(pos.get('auth')!.x, pos.get('api')!.x);
});

t.test('cycles do not stretch the layout', async (t) => {
  const n = 40;
  const s = Array.from({ length: n }, (_, i) => ({ name: `s${String(i).padStart(2, '0')}` }));
  const e = s.flatMap((_, i) => [{ source: s[i]!.name, destination: s[(i + 1) % n]!.name }, { source: s[i]!.name, destination: s[(i + 7) % n]!.name }]);
  const { pos } = layout(s, e);
  t.equal(pos.size, n, 'every service placed');
  const xs = new Set([...pos.values()].map((p) => p.x));
  t.ok(xs.size <= 8, `a 40-service ring fits in ${xs.size} columns`);
  const { pos: small } = layout([{ name: 'a' }, { name: 'b' }], [{ source: 'a', destination: 'b' }, { source: 'b', destination: 'a' }]);
  t.ok(small.get('a')!.x < small.get('b')!.x, 'a two-node cycle is one step, not a loop');
  const { pos: busy } = layout([{ name: 'a' }, { name: 'b' }], [{ source: 'a', destination: 'b', metrics: { rps: 1 } }, { source: 'b', destination: 'a', metrics: { rps: 50 } }] as never);
  t.ok(busy.get('b')!.x < busy.get('a')!.x, 'in a cycle the end that sends more traffic goes left');
});

t.test('edge health colours follow the objective', async (t) => {
  t.equal(healthClass(null, 0.99), 'idle');
  t.equal(healthClass({ requests: 10, successRate: 0.995 }, 0.99), 'ok');
  t.equal(healthClass({ requests: 10, successRate: 0.96 }, 0.99), 'warn');
  t.equal(healthClass({ requests: 10, successRate: 0.8 }, 0.99), 'bad');
});
