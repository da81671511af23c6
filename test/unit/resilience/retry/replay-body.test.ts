import t from 'tap';
import { ReplayBody } from '../../../../src/resilience/retry/replay-body.ts';

t.test('keeps chunks up to the bound, in order, by reference', async (t) => {
  const r = new ReplayBody(10);
  const a = Buffer.from('hello');
  const b = Buffer.from('world');
  r.push(a);
  r.push(Buffer.alloc(0));
  r.push(b);
  r.end();
  t.ok(r.replayable);
  t.ok(r.ended);
  t.equal(r.bytes, 10);
  t.equal(Buffer.concat(r.chunks()).toString(), 'helloworld');
  t.equal(r.chunks()[0], a, 'no copy by default');
  r.clear();
  t.same(r.chunks(), []);
});

t.test('one byte past the bound: not replayable, chunks dropped, bytes still counted', async (t) => {
  const r = new ReplayBody(10);
  r.push(Buffer.from('hello'));
  r.push(Buffer.from('world!'));
  t.notOk(r.replayable);
  t.equal(r.bytes, 11);
  t.throws(() => r.chunks(), /cannot be replayed/);
  r.push(Buffer.from('more'));
  t.equal(r.bytes, 15);
  t.notOk(r.replayable, 'stays not replayable');
});

t.test('copy mode survives the caller reusing its buffer; 64 KiB default', async (t) => {
  const r = new ReplayBody(undefined, true);
  t.equal(r.maxBytes, 65536);
  const shared = Buffer.from('abc');
  r.push(shared);
  shared.write('xyz');
  t.equal(r.chunks()[0]!.toString(), 'abc');
  const big = new ReplayBody();
  big.push(Buffer.alloc(65536));
  t.ok(big.replayable, 'exactly 64 KiB is replayable');
  big.push(Buffer.alloc(1));
  t.notOk(big.replayable);
  const zero = new ReplayBody(0);
  zero.push(Buffer.alloc(0));
  t.ok(zero.replayable, 'an empty body with a 0 bound');
  t.throws(() => new ReplayBody(-1), RangeError);
});
