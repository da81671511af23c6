/**
 * `aim-mesh inject-webhook`: the sidecar injector, an HTTPS server for
 * Kubernetes AdmissionReview v1 (src/k8s/webhook-server.ts). The Helm chart
 * runs it with the certificate the MutatingWebhookConfiguration trusts.
 */
import { parseArgs } from 'node:util';
import { loadInjectorConfig } from '../../k8s/config.ts';
import type { InjectorConfig } from '../../k8s/config.ts';
import { startWebhook } from '../../k8s/webhook-server.ts';
import { ConfigError } from '../../config/yaml-schema.ts';
import { createLogger } from '../../telemetry/log.ts';
import { version } from '../../version.ts';

const DEFAULT_TLS_DIR = '/var/run/aim-mesh/webhook-tls';

export const usage = `Usage: aim-mesh inject-webhook [options]

Serve the sidecar injection webhook (AdmissionReview v1 over HTTPS).
  POST /inject            pods of namespaces without the aim-mesh.io/inject label
                          (injected only when annotated aim-mesh.io/inject: enabled)
  POST /inject/enabled    pods of namespaces labelled aim-mesh.io/inject=enabled
  GET  /healthz           health
The certificate and key are reloaded when their files change.

Options:
  --listen HOST:PORT      address to serve on (default 0.0.0.0:8443)
  --tls-cert FILE         server certificate, PEM (default ${DEFAULT_TLS_DIR}/tls.crt)
  --tls-key FILE          server key, PEM (default ${DEFAULT_TLS_DIR}/tls.key)
  --config FILE           injector config (YAML); defaults for everything when absent
  --log-level LEVEL       trace|debug|info|warn|error (default info)
  -h, --help              this text
`;

function parseListen(s: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string', default: '0.0.0.0:8443' },
        'tls-cert': { type: 'string', default: `${DEFAULT_TLS_DIR}/tls.crt` },
        'tls-key': { type: 'string', default: `${DEFAULT_TLS_DIR}/tls.key` },
        config: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`aim-mesh inject-webhook: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const listen = parseListen(values.listen);
  if (!listen) {
    process.stderr.write(`aim-mesh inject-webhook: --listen: expected HOST:PORT, got '${values.listen}'\n`);
    return 2;
  }
  let config: InjectorConfig;
  try {
    config = loadInjectorConfig(values.config);
  } catch (err) {
    if (!(err instanceof ConfigError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    process.stderr.write(`aim-mesh inject-webhook: bad injector config:\n${(err as Error).message}\n`);
    return 2;
  }
  const log = createLogger({ level: values['log-level'] }, { component: 'inject-webhook' });

  let server;
  try {
    server = await startWebhook({
      host: listen.host, port: listen.port, certFile: values['tls-cert'], keyFile: values['tls-key'],
      config, version, log,
    });
  } catch (err) {
    process.stderr.write(`aim-mesh inject-webhook: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  log.info({ address: server.address, identity: config.identity, failurePolicy: config.failurePolicy, image: config.image }, 'injection webhook listening');

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await server.close();
  log.flush();
  return 0;
}
