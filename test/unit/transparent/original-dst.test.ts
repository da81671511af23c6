import t from 'tap';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { originalDst, originalDstAvailable } from '../../../src/transparent/original-dst.ts';

const sh = promisify(execFile);
const moduleUrl = new URL('../../../src/transparent/original-dst.ts', import.meta.url).href;

t.test('without the addon: a clear error that says how to build it', async (t) => {
  const code = `
    import { originalDst, originalDstAvailable, assertOriginalDstAvailable } from ${JSON.stringify(moduleUrl)};
    import net from 'node:net';
    console.log(JSON.stringify({ available: originalDstAvailable() }));
    try { assertOriginalDstAvailable(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
  `;
  const { stdout } = await sh(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, AIM_MESH_ORIGDST_ADDON: '/nonexistent/origdst.node' },
  });
  const [avail, err] = stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.same(avail, { available: false });
  t.equal(err.code, 'addon_missing');
  t.match(err.message, /^transparent mode needs the orig-dst addon: run npm run build:native/);
  t.match(err.message, /\/nonexistent\/origdst\.node/);
});

t.test('with the addon, on loopback without NAT', { skip: originalDstAvailable() ? false : 'the orig-dst addon is not built (npm run build:native)' }, async (t) => {
  const seen: Array<ReturnType<typeof originalDst> | 'threw'> = [];
  const server = net.createServer((s) => {
    try { seen.push(originalDst(s)); } catch { seen.push('threw'); }
    s.end();
  });
  t.teardown(() => server.close());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const c = net.connect(port, '127.0.0.1');
  c.resume();
  await new Promise((r) => c.on('close', r));
  t.same(seen, [undefined], 'a direct connection has no (other) original destination');

  // A socket that is not (or no longer) backed by a kernel fd gives undefined, not a crash.
  t.equal(originalDst(new net.Socket()), undefined);
  t.equal(originalDst(c), undefined, 'closed socket');
});
