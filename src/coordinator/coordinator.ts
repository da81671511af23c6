/**
 * `startCoordinator`: wires the control plane together and returns a handle.
 *
 *   gRPC (mTLS, client cert optional)  Identity.Certify → certify.ts → signer
 *                                      Mesh.Report     → report-stream.ts → registry
 *   registry (+ other replicas' records via ViewSharing) → MeshState → view
 *   view → HTTP API, /metrics, dashboard WebSocket (LiveHub)
 *   DirectiveHub → every report stream (policy, rotate-certificate)
 *
 * Never imported by the data path. All state is soft: a restarted coordinator
 * rebuilds its view from the snapshots agents send when they reconnect.
 */
import forge from 'node-forge';
import pino, { type Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { controlPlaneProtos } from '../proto/load.ts';
import { AgentRegistry } from './agent-registry.ts';
import { certifyHandler } from './certify.ts';
import { ConsulKvSharing } from './consul-kv-sharing.ts';
import { loadDashboardAssets } from './dashboard-assets.ts';
import { DirectiveHub } from './directives.ts';
import { startGrpcServer, ServerTlsProvider } from './grpc-server.ts';
import { startHttpApi } from './http-api.ts';
import { JoinTokens } from './join-tokens.ts';
import { LiveHub } from './live-hub.ts';
import { MeshState } from './mesh-state.ts';
import { CoordinatorMetrics } from './metrics.ts';
import type { ReplicaInfo } from './model.ts';
import { type CoordinatorInput, parseCoordinatorOptions } from './options.ts';
import { peerIdentity } from './peer-identity.ts';
import { reportHandler } from './report-stream.ts';
import { COORDINATOR_SERVICE, issueServerTls, keepServerTlsFresh } from './server-identity.ts';
import { generateRsaKeyPem, loadOrCreateCa, Signer } from './signer.ts';
import { formatSpiffeId } from '../control/spiffe-id.ts';
import { LocalOnlySharing, type ViewSharing } from './view-sharing.ts';

export interface Coordinator {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** host:port agents dial. */
  readonly grpcTarget: string;
  readonly httpUrl: string;
  readonly trustDomain: string;
  /** The SPIFFE ID agents must see on the coordinator's certificate. */
  readonly spiffeId: string;
  readonly rootsPem: readonly string[];
  readonly replicaId: string;
  readonly state: MeshState;
  readonly directives: DirectiveHub;
  readonly metrics: CoordinatorMetrics;
  /** Issue a key + leaf for `service` directly (demo, tests and bench fixtures; agents use Certify). */
  issueLeaf(service: string, ttlMs?: number): { keyPem: string; certPem: string; spiffeId: string };
  close(): Promise<void>;
}

const wallClock: Clock = { now: () => Date.now() };

export async function startCoordinator(input: CoordinatorInput): Promise<Coordinator> {
  const { ca: caIn, policy, clock = wallClock, log = pino({ level: 'silent' }), ...plain } = input;
  const o = parseCoordinatorOptions(plain);
  if (!caIn && !o.caDir) throw new TypeError('invalid coordinator options:\n  caDir: a CA directory is required');
  const ca = caIn ?? await loadOrCreateCa(o.caDir!, o.trustDomain);
  if (!caIn && (ca as { created?: boolean }).created) log.info({ dir: o.caDir }, 'created a new root CA');
  const signer = new Signer(ca);
  const idOf = (service: string): string => formatSpiffeId({ trustDomain: o.trustDomain, namespace: o.namespace, datacenter: o.datacenter, service });
  const spiffeId = idOf(COORDINATOR_SERVICE);

  const sharing: ViewSharing = o.consul ? new ConsulKvSharing(o.consul) : new LocalOnlySharing();
  let sharingError: string | undefined;
  const replica = (): ReplicaInfo => ({
    id: o.replicaId,
    sharing: sharing.mode,
    note: sharingError ? `${sharing.note} Last sharing error: ${sharingError}` : sharing.note,
  });

  const registry = new AgentRegistry(o.liveness);
  const state = new MeshState({
    registry, clock, replica, minPublishIntervalMs: o.minPublishIntervalMs, sweepIntervalMs: o.sweepIntervalMs,
    aggregate: { liveness: o.liveness, alerts: o.alerts },
  });
  const directives = new DirectiveHub(policy);
  const metrics = new CoordinatorMetrics(() => state.view());
  const tokens = new JoinTokens(o.joinTokens);
  const protos = controlPlaneProtos();
  const assets = loadDashboardAssets();

  const serverTls = (): ReturnType<typeof issueServerTls> =>
    issueServerTls(signer, spiffeId, [o.grpc.host, ...o.serverNames].filter((h) => h !== '0.0.0.0' && h !== '::'), Math.max(o.leafTtlMs, 60_000), clock.now());
  const firstTls = serverTls();
  const provider = new ServerTlsProvider(firstTls);
  const stopTls = keepServerTlsFresh({ provider, issue: serverTls, first: firstTls, clock, onError: (err) => log.error({ err }, 'renewing the coordinator certificate failed') });

  const grpcServer = await startGrpcServer({
    host: o.grpc.host, port: o.grpc.port, tls: provider,
    services: [
      { definition: protos.identity, impl: { Certify: certifyHandler({
        signer, tokens, trustDomain: o.trustDomain, leafTtlMs: o.leafTtlMs, now: () => clock.now(),
        peer: (call) => peerIdentity(call, o.trustDomain, clock.now()),
        onResult: (r) => {
          metrics.certify.inc({ result: r.ok ? 'issued' : 'denied', via: r.via ?? 'none' });
          if (r.ok) log.info({ spiffeId: r.spiffeId, via: r.via }, 'certificate issued');
          else log.warn({ spiffeId: r.spiffeId, code: r.code, why: r.message }, 'certify refused');
        },
      }) } },
      { definition: protos.mesh, impl: { Report: reportHandler({
        replica: o.replicaId, now: () => clock.now(), registry, directives, log,
        peer: (call) => peerIdentity(call, o.trustDomain, clock.now()),
        onChange: () => state.markDirty(),
        onReport: (r) => metrics.reports.inc({ kind: r.snapshot ? 'snapshot' : 'delta' }),
        onStream: (d) => metrics.streams.inc(d),
      }) } },
    ],
  }).catch((err: unknown) => { stopTls(); throw err; });

  const live = new LiveHub(state);
  const http = await startHttpApi(o.http.host, o.http.port, { state, directives, metrics, live, assets })
    .catch(async (err: unknown) => { stopTls(); await grpcServer.close(); throw err; });
  state.start();

  let shareTimer: NodeJS.Timeout | undefined;
  if (o.consul) {
    const share = async (): Promise<void> => {
      try {
        await sharing.publish(o.replicaId, state.localRecords());
        state.setRemote(await sharing.peers(o.replicaId));
        sharingError = undefined;
      } catch (err) {
        sharingError = (err as Error).message;
        log.warn({ err: sharingError }, 'sharing the view through Consul failed; keeping the last peer records');
      }
    };
    const loop = (): void => { shareTimer = setTimeout(() => { void share().finally(loop); }, o.shareIntervalMs); shareTimer.unref(); };
    void share().finally(loop);
  }

  const fmt = (h: string): string => (h.includes(':') ? `[${h}]` : h);
  const grpcHost = o.grpc.host === '0.0.0.0' || o.grpc.host === '::' ? '127.0.0.1' : o.grpc.host;
  const httpHost = o.http.host === '0.0.0.0' || o.http.host === '::' ? '127.0.0.1' : o.http.host;
  log.info({ grpc: grpcServer.port, http: http.port, replica: o.replicaId, sharing: sharing.mode }, 'coordinator listening');

  let closed = false;
  return {
    grpcPort: grpcServer.port,
    httpPort: http.port,
    grpcTarget: `${fmt(grpcHost)}:${grpcServer.port}`,
    httpUrl: `http://${fmt(httpHost)}:${http.port}`,
    trustDomain: o.trustDomain,
    spiffeId,
    rootsPem: signer.rootsPem(),
    replicaId: o.replicaId,
    state,
    directives,
    metrics,
    issueLeaf(service, ttlMs = o.leafTtlMs) {
      const { privateKeyPem, publicKeyPem } = generateRsaKeyPem();
      const id = idOf(service);
      const leaf = signer.sign({ publicKey: forge.pki.publicKeyFromPem(publicKeyPem), spiffeId: id, commonName: service, ttlMs, nowMs: clock.now() });
      return { keyPem: privateKeyPem, certPem: leaf.certPem, spiffeId: id };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(shareTimer);
      stopTls();
      state.stop();
      await live.close();
      await Promise.all([http.close(), grpcServer.close()]);
      await sharing.close();
    },
  };
}
