/**
 * The coordinator's gRPC server over TLS, with a client certificate requested
 * but not required: agents with a leaf are verified against the trust bundle
 * (Mesh.Report needs one), and bootstrapping agents can reach Identity.Certify
 * with a join token alone.
 *
 * grpc-js's `createSsl` either requires a client certificate or never asks for
 * one, so the credentials come from its certificate-provider API with our own
 * in-memory provider; `update()` also hot-swaps the server's own leaf and roots
 * without a restart.
 */
import * as grpc from '@grpc/grpc-js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaCertificateUpdateListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityCertificateUpdateListener = grpc.experimental.IdentityCertificateUpdateListener;

export interface ServerTls {
  readonly keyPem: string;
  readonly certPem: string;
  readonly rootsPem: readonly string[];
}

/** An in-memory certificate provider: listeners get the current material (asynchronously, see below) and every update. */
export class ServerTlsProvider implements CertificateProvider {
  #tls: ServerTls;
  readonly #ca = new Set<CaCertificateUpdateListener>();
  readonly #id = new Set<IdentityCertificateUpdateListener>();

  constructor(tls: ServerTls) { this.#tls = tls; }

  update(tls: ServerTls): void {
    this.#tls = tls;
    for (const l of this.#ca) l(this.#caUpdate());
    for (const l of this.#id) l(this.#idUpdate());
  }

  #caUpdate() { return { caCertificate: Buffer.from(this.#tls.rootsPem.join('\n')) }; }
  #idUpdate() { return { certificate: Buffer.from(this.#tls.certPem), privateKey: Buffer.from(this.#tls.keyPem) }; }

  // grpc-js registers its watcher only after subscribing to the provider, so a
  // synchronous first callback would be lost: deliver it on the next microtask.
  addCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.#ca.add(l);
    queueMicrotask(() => { if (this.#ca.has(l)) l(this.#caUpdate()); });
  }
  removeCaCertificateListener(l: CaCertificateUpdateListener): void { this.#ca.delete(l); }
  addIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.#id.add(l);
    queueMicrotask(() => { if (this.#id.has(l)) l(this.#idUpdate()); });
  }
  removeIdentityCertificateListener(l: IdentityCertificateUpdateListener): void { this.#id.delete(l); }
}

export interface GrpcServerHandle {
  readonly port: number;
  readonly server: grpc.Server;
  close(): Promise<void>;
}

export async function startGrpcServer(opts: {
  host: string;
  port: number;
  tls: ServerTlsProvider;
  services: readonly { definition: grpc.ServiceDefinition; impl: grpc.UntypedServiceImplementation }[];
}): Promise<GrpcServerHandle> {
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
  });
  for (const s of opts.services) server.addService(s.definition, s.impl);
  // Argument order follows the implementation (identity provider, then CA provider);
  // the .d.ts names them the other way round. One provider serves both.
  const creds = grpc.experimental.createCertificateProviderServerCredentials(opts.tls, opts.tls, false);
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port}`, creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port,
    server,
    close: () => new Promise<void>((resolve) => {
      // Report streams never end on their own: give unary calls a moment, then cut.
      const t = setTimeout(() => server.forceShutdown(), 500);
      server.tryShutdown(() => { clearTimeout(t); resolve(); });
    }),
  };
}
