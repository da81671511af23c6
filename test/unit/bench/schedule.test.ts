import t from 'tap';
import fc from 'fast-check';
import { OpenLoopSchedule } from '../../../bench/lib/schedule.ts';

t.test('requests are due on a fixed grid, independent of responses', async (t) => {
  const s = new OpenLoopSchedule(1000, 2000);
  t.equal(s.total, 2000);
  t.equal(s.sendTime(0), 0);
  t.equal(s.sendTime(1500), 1500);
  t.equal(s.due(-1), 0);
  t.equal(s.due(0), 1);
  t.equal(s.due(0.999), 1);
  t.equal(s.due(1), 2);
  t.equal(s.due(999.5), 1000);
  t.equal(s.due(10_000), 2000, 'capped at the total');
});

t.test('a stalled generator that wakes late owes every request it missed', async (t) => {
  const s = new OpenLoopSchedule(5000, 1000);
  // Woken 50 ms late after the first send: 250 more slots have passed, all due at once.
  t.equal(s.due(50), 251);
  t.equal(s.sendTime(250), 50);
});

t.test('float rates do not drop or duplicate slots at the boundary', async (t) => {
  const s = new OpenLoopSchedule(3, 1000);
  t.equal(s.total, 3);
  t.equal(s.due(s.sendTime(1)), 2, 'a slot is due exactly at its send time');
  t.equal(s.due(s.sendTime(2)), 3);
});

t.test('properties: due() is monotonic, and slot i is due at sendTime(i) but not before', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 5000 }), fc.nat(), (rate, dur, k) => {
    const s = new OpenLoopSchedule(rate, dur);
    const i = k % s.total;
    const at = s.sendTime(i);
    return s.due(at) >= i + 1 && (i === 0 || s.due(at - 1e-3 * (1000 / rate)) <= i) && s.due(at + 1) >= s.due(at);
  }));
});

t.test('invalid rates and durations are rejected at construction', async (t) => {
  t.throws(() => new OpenLoopSchedule(0, 1000), RangeError);
  t.throws(() => new OpenLoopSchedule(100, Number.NaN), RangeError);
});
