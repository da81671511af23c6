/**
 * missingPrerequisite (src/demo/netns.ts): what `aim-mesh demo --transparent` and the
 * namespace tests say when the machine cannot run them. The probes are injected, so each
 * case runs here even as root.
 */
import t from 'tap';
import { missingPrerequisite, type PrerequisiteProbes } from '../../../src/demo/netns.ts';
import { DEMO_BINS, metricLines } from '../../../src/demo/transparent.ts';

const ok: PrerequisiteProbes = { platform: 'linux', uid: 0, has: () => true, addonBuilt: () => true, tryNetns: () => undefined };
const check = (p: Partial<PrerequisiteProbes>) => missingPrerequisite(DEMO_BINS, { ...ok, ...p });

t.test('a machine with everything', async (t) => {
  t.equal(check({}), false);
});

t.test('each missing piece is named, with how to get it', async (t) => {
  t.equal(check({ platform: 'darwin' }), 'network namespaces need Linux (this is darwin)');
  t.match(check({ uid: 1000 }), /^needs root .* \(run it with sudo\)$/);
  t.match(check({ uid: undefined }), /^needs root/);
  t.equal(check({ has: (b) => b !== 'setpriv' }), 'setpriv is not installed (Debian/Ubuntu: apt-get install util-linux)');
  t.equal(check({ has: (b) => !b.startsWith('iptables') && b !== 'ip' }),
    'ip, iptables-save, iptables-restore are not installed (Debian/Ubuntu: apt-get install iproute2 iptables)', 'several, each package once');
  t.match(check({ addonBuilt: () => false }), /orig-dst addon is not built \(run npm run build:native/);
  t.equal(check({ tryNetns: () => 'mount --make-shared /run/netns failed: Operation not permitted' }),
    'cannot create network namespaces here: mount --make-shared /run/netns failed: Operation not permitted');
});

t.test('cheapest first: the namespace probe runs only when everything else is there', async (t) => {
  let probed = 0;
  const tryNetns = () => { probed++; return undefined; };
  check({ uid: 1000, tryNetns });
  check({ has: () => false, tryNetns });
  check({ addonBuilt: () => false, tryNetns });
  t.equal(probed, 0);
  check({ tryNetns });
  t.equal(probed, 1);
});

t.test('metricLines reads labelled counters from /metrics text', async (t) => {
  const text = [
    '# HELP transparent_capture_total x',
    'transparent_capture_total{result="mesh"} 12',
    'transparent_capture_total{result="passthrough"} 0',
    'inbound_peer_requests_total{target="api",peer="spiffe://aim.local/ns/default/dc/dc1/svc/web"} 7',
  ].join('\n');
  t.same(metricLines(text, 'transparent_capture_total'), [[{ result: 'mesh' }, 12], [{ result: 'passthrough' }, 0]]);
  t.same(metricLines(text, 'inbound_peer_requests_total'), [[{ target: 'api', peer: 'spiffe://aim.local/ns/default/dc/dc1/svc/web' }, 7]]);
  t.same(metricLines(text, 'absent_total'), []);
});
