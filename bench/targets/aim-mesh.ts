/**
 * aim-mesh: the mesh path itself. Two agents started with the quick flags of
 * `aim-mesh agent` (issue 2): the inbound agent listens with mTLS and forwards to
 * the backend (its --service-addr); the outbound agent offers a local plaintext
 * port for the upstream `bench-backend`, which a static registry file resolves
 * to the inbound agent's listen port. Each agent is one tracked process (plus its
 * workers with --workers N). Identities come from the agents' local CA, kept in
 * the run's temp dir (--ca-dir); the inbound agent starts first, so it alone
 * creates the CA. The harness then signs its own client leaf from that CA to
 * measure new mTLS connections against the inbound agent, as for the other pairs.
 * `extraArgs` (run.ts --agent-args) go to both agents and are printed in the report.
 * A `variant` names another pair built the same way: the grpc scenario's (both
 * ports pinned to gRPC, the backend a gRPC peer) or a per-layer variant with a
 * config file per agent (aim-mesh-layers.ts).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientLeafFrom, uriSans } from '../lib/certs.ts';
import type { TlsHop } from '../lib/handshake.ts';
import { freePort, HOST, waitForPort } from '../lib/ports.ts';
import type { ProcessGroup, Tracked } from '../lib/procs.ts';
import type { TargetDef } from './types.ts';

const UPSTREAM = 'bench-backend';
const CLIENT = 'bench-client';

function agent(procs: ProcessGroup, repo: string, name: string, workers: number, flags: Record<string, string>, extra: readonly string[]): Tracked {
  // The pre-stripped build that run.ts makes first: what bin/aim-mesh.js runs while the build is
  // current. Started directly, so an edit under src/ during a run cannot switch it back to src/.
  // The V8 flag is bin/aim-mesh.js's shebang flag, which a spawn through process.execPath does not apply.
  const args = ['--max-semi-space-size=2', 'dist/cli/index.js', 'agent'];
  for (const [k, v] of Object.entries(flags)) args.push(`--${k}`, v);
  if (workers > 1) args.push('--workers', String(workers));
  args.push(...extra);
  return procs.spawn(name, process.execPath, args, { cwd: repo, env: { ...process.env, NODE_ENV: 'production' } });
}

/** A client leaf from the agents' CA, or the reason there is none. */
function clientHop(caDir: string, dir: string, port: number): TlsHop | string {
  const caCert = join(caDir, 'ca-cert.pem');
  const caKey = join(caDir, 'ca-key.pem');
  if (!existsSync(caCert) || !existsSync(caKey)) return `not measured: no local CA in ${caDir} (is mTLS on?)`;
  try {
    const td = uriSans(caCert).find((u) => u.startsWith('spiffe://'));
    if (!td) return 'not measured: the local CA has no spiffe:// URI SAN';
    const leafDir = join(dir, 'client-leaf');
    mkdirSync(leafDir, { recursive: true });
    const leaf = clientLeafFrom(leafDir, caCert, caKey, `${td.replace(/\/+$/, '')}/ns/default/dc/dc1/svc/${CLIENT}`);
    const bundle = join(caDir, 'trust-bundle.pem');
    return { host: HOST, port, servername: UPSTREAM, caFile: existsSync(bundle) ? bundle : caCert, certFile: leaf.cert, keyFile: leaf.key, path: '/small', checkName: false };
  } catch (e) {
    return `not measured: could not sign a client leaf from the local CA: ${(e as Error).message}`;
  }
}

/** A variant of the pair: the grpc scenario's, or one of the per-layer variants (aim-mesh-layers.ts). */
export interface AimMeshVariant {
  readonly name: string;
  readonly description: string;
  readonly kind?: 'grpc';
  readonly scenarios?: readonly string[];
  /** A config file (JSON) for each agent, under the flags; an outbound one with `upstreams` replaces --upstream. */
  readonly config?: (upstream: { name: string; listen: string }) => { inbound?: object; outbound?: object };
  /** Extra flags for both agents (e.g. --access-log). */
  readonly args?: readonly string[];
}

/** The aim-mesh pair with `workers` processes per agent (`aim-mesh`, `aim-mesh-w2`, …). */
export function aimMesh(workers: number, extraArgs: readonly string[] = [], variant?: AimMeshVariant): TargetDef {
  const grpc = variant?.kind === 'grpc';
  const args = [...(variant?.args ?? []), ...extraArgs];
  return {
    name: variant?.name ?? (workers === 1 ? 'aim-mesh' : `aim-mesh-w${workers}`),
    description: (variant?.description ?? `client → aim-mesh outbound agent → (mTLS) → aim-mesh inbound agent → backend; ${workers} process(es) per agent`) +
      (args.length ? `; extra agent args: ${args.join(' ')}` : ''),
    ...(variant?.kind ? { kind: variant.kind } : {}),
    ...(variant?.scenarios ? { scenarios: variant.scenarios } : {}),
    async start(ctx) {
      const [outPort, inPort, outListen, clientApp, adminIn, adminOut] = await Promise.all(Array.from({ length: 6 }, freePort));
      const registry = join(ctx.dir, 'registry.yaml');
      const caDir = join(ctx.dir, 'ca');
      writeFileSync(registry, `# written by aim-mesh bench\nservices:\n  ${UPSTREAM}:\n    instances:\n      - { address: ${HOST}, port: ${inPort} }\n`);
      // A short drain keeps stopping the pair quick; it does not touch the data path.
      const common = { registry, 'ca-dir': caDir, 'drain-timeout': '2s' };
      // Variants: a config file per agent under the flags; gRPC pins both ports to the protocol.
      const cfg = variant?.config?.({ name: UPSTREAM, listen: `${HOST}:${outPort}` }) ?? {};
      const file = (role: string, c: object | undefined): Record<string, string> => {
        if (!c) return {};
        writeFileSync(join(ctx.dir, `${role}.json`), JSON.stringify(c));
        return { config: join(ctx.dir, `${role}.json`) };
      };
      const inbound = agent(ctx.procs, ctx.repo, `${variant?.name ?? 'aim-mesh'}-inbound-w${workers}`, workers, {
        ...file('inbound', cfg.inbound), service: UPSTREAM, 'service-addr': `${HOST}:${ctx.backend.port}`, listen: `${HOST}:${inPort}`,
        'admin-bind': `${HOST}:${adminIn}`, ...(grpc ? { 'service-protocol': 'grpc' } : {}), ...common,
      }, args);
      let outbound: Tracked | undefined;
      try {
        await waitForPort(inPort, inbound, 20_000);
        const upstreamFlag: Record<string, string> = cfg.outbound && 'upstreams' in cfg.outbound ? {} : { upstream: `${UPSTREAM}:${outPort}${grpc ? '/grpc' : ''}` };
        outbound = agent(ctx.procs, ctx.repo, `${variant?.name ?? 'aim-mesh'}-outbound-w${workers}`, workers, {
          ...file('outbound', cfg.outbound), service: CLIENT, 'service-addr': `${HOST}:${clientApp}`, listen: `${HOST}:${outListen}`,
          ...upstreamFlag, 'admin-bind': `${HOST}:${adminOut}`, ...common,
        }, args);
        await waitForPort(outPort, outbound, 20_000);
      } catch (e) {
        await Promise.all([outbound && ctx.procs.stop(outbound), ctx.procs.stop(inbound)]);
        throw e;
      }
      const out = outbound;
      const hop = grpc ? 'not measured in the grpc scenario' : clientHop(caDir, ctx.dir, inPort);
      return {
        origin: `http://${HOST}:${outPort}`,
        roles: () => ({ outbound: out.pids(), inbound: inbound.pids(), backend: ctx.backend.pids() }),
        ...(typeof hop === 'string' ? { tlsHopNote: hop } : { tlsHop: hop }),
        async stop() {
          await Promise.all([ctx.procs.stop(out, 12_000), ctx.procs.stop(inbound, 12_000)]);
        },
      };
    },
  };
}
