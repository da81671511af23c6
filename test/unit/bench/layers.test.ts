import t from 'tap';
import { layerCosts, type LayerToggle } from '../../../bench/lib/layers.ts';
import { phasesFor } from '../../../bench/lib/measure.ts';
import { parseBenchArgs } from '../../../bench/lib/args.ts';
import { runsIn, type Scenario } from '../../../bench/lib/scenario.ts';

const toggles: LayerToggle[] = [
  { layer: 'metrics', with: 'defaults', without: 'no-metrics', toggle: 'metrics.enabled: false' },
  { layer: 'access log', with: 'access-log', without: 'defaults', toggle: '--access-log' },
];
const m = (out: number, inb: number, rps: number) => ({ cpu_us_per_req_outbound: out, cpu_us_per_req_inbound: inb, throughput_rps: rps });

t.test('a layer costs the difference with − without, per run, then the median', async (t) => {
  const runs = [
    new Map([['defaults', m(100, 100, 5000)], ['no-metrics', m(99, 100, 5100)], ['access-log', m(110, 112, 4000)]]),
    new Map([['defaults', m(120, 110, 4000)], ['no-metrics', m(118, 108, 4200)], ['access-log', m(130, 121, 3600)]]),
    new Map([['defaults', m(90, 95, 6000)], ['no-metrics', m(91, 95, 6000)], ['access-log', m(100, 107, 4800)]]),
  ];
  const [metrics, log] = layerCosts(toggles, runs);
  t.equal(metrics?.addedUsOutbound, 1, 'median of 1, 2, -1');
  t.equal(metrics?.addedUsInbound, 0, 'median of 0, 2, 0');
  t.same(metrics?.runs, [1, 4, -1]);
  t.equal(metrics?.addedUsPair, 1);
  t.ok(Math.abs((log?.addedUsPair as number) - 22) < 1e-9, 'median of 22, 21, 22');
  t.equal(log?.throughputRatio, 0.8, 'median of 0.8, 0.9, 0.8');
  t.ok(Number.isNaN(log?.noiseUs), 'no slices, no noise estimate');
});

t.test('the noise is the standard error of both variants\' slices', async (t) => {
  const s = (...v: number[]) => v.map((x) => ({ requests: 1000, cpuUsOutbound: x * 500, cpuUsInbound: x * 500 }));
  const [c] = layerCosts([toggles[0] as LayerToggle], [new Map([['defaults', m(1, 1, 1)], ['no-metrics', m(1, 1, 1)]])],
    new Map([['defaults', s(100, 102)], ['no-metrics', s(100, 100)]]));
  t.ok(Math.abs((c?.noiseUs as number) - 1) < 1e-9, 'sd √2 over √2 slices, and 0');
});

t.test('a variant missing from a run leaves that run out', async (t) => {
  const [c] = layerCosts([toggles[0] as LayerToggle], [new Map([['defaults', m(100, 100, 1)]]), new Map([['defaults', m(100, 100, 1)], ['no-metrics', m(90, 90, 1)]])]);
  t.same(c?.runs, [20]);
});

const scenario = (over: Partial<Scenario>): Scenario => ({
  name: 'x', description: '', kind: 'http1', order: 1, path: '/small', bodyBytes: 128, rates: [1000], wrkConnections: 32, handshake: false, ...over,
});

t.test('a scenario\'s own phases replace the flags\'; --quick only shortens them', async (t) => {
  const s = scenario({ phaseSec: { warmup: 2, closed: 2 } });
  t.same(phasesFor(parseBenchArgs([]), s), { warmupSec: 2, rateSec: 3, closedSec: 2 });
  t.same(phasesFor(parseBenchArgs(['--quick']), s), { warmupSec: 0.5, rateSec: 2, closedSec: 2 });
  t.same(phasesFor(parseBenchArgs(['--wrk-secs', '5']), scenario({})), { warmupSec: 1, rateSec: 3, closedSec: 5 });
});

t.test('targets run the scenarios of their kind, narrowed from either side', async (t) => {
  const layers = scenario({ name: 'layers', targets: ['v1'] });
  const grpc = scenario({ name: 'grpc', kind: 'grpc' });
  t.ok(runsIn({ name: 'aim-mesh' }, scenario({})));
  t.notOk(runsIn({ name: 'aim-mesh' }, grpc), 'an http1 build does not run grpc');
  t.ok(runsIn({ name: 'aim-mesh', kind: 'grpc' }, grpc));
  t.notOk(runsIn({ name: 'aim-mesh' }, layers), 'not in the scenario\'s list');
  t.ok(runsIn({ name: 'v1', scenarios: ['layers'] }, layers));
  t.notOk(runsIn({ name: 'v1', scenarios: ['layers'] }, scenario({ name: 'small' })), 'a variant runs only where it says');
});
