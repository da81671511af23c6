import t from 'tap';
import { TURBOFAN_INVOCATIONS, tuneTiering } from '../../../src/agent/v8-tiering.ts';

t.test('the agent lowers the TurboFan invocation count unless node was given one', async (t) => {
  t.equal(TURBOFAN_INVOCATIONS, 600);
  t.equal(tuneTiering([]), true, 'no operator flag: set');
  t.equal(tuneTiering(['--max-semi-space-size=2']), true, 'other flags do not count');
  t.equal(tuneTiering(['--invocation-count-for-turbofan=3000']), false, 'the operator\'s value wins');
  t.equal(tuneTiering(['--invocation_count_for_turbofan=100']), false, 'also in V8\'s underscore spelling');
});
