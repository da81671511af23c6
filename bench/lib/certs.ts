/**
 * Run-time mTLS material for the HAProxy and nginx pairs, made with the openssl
 * CLI into the run's temp dir: a CA, a server leaf for the inbound side
 * (SAN DNS:inbound.bench, IP:127.0.0.1) and a client leaf for the outbound side.
 * ECDSA P-256 throughout, as a modern mesh would use. Both sides verify the peer.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERVER_NAME = 'inbound.bench';

export interface CertSet {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** cert + key in one file (HAProxy's `crt`). */
  readonly serverPem: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly clientPem: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function leaf(dir: string, name: string, cn: string, ext: string, caCert = 'ca.crt', caKey = 'ca.key'): void {
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  writeFileSync(join(dir, `${name}.pem`), readFileSync(join(dir, `${name}.crt`), 'utf8') + readFileSync(join(dir, `${name}.key`), 'utf8'));
}

/**
 * A client leaf for `spiffeId`, signed by someone else's CA (the agent's local
 * CA), written into `dir` as client.crt / client.key. Returns their paths.
 */
export function clientLeafFrom(dir: string, caCert: string, caKey: string, spiffeId: string): { cert: string; key: string } {
  leaf(dir, 'client', 'bench-client', [
    'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth',
    `subjectAltName=URI:${spiffeId}`, '',
  ].join('\n'), caCert, caKey);
  return { cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
}

/** The URI SANs of a certificate file (e.g. a SPIFFE root's spiffe://<trust-domain>). */
export function uriSans(certFile: string): string[] {
  const text = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
  return [...text.matchAll(/URI:([^,\s]+)/g)].map((m) => m[1] as string);
}

export function makeCerts(dir: string): CertSet {
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key']);
  openssl(dir, ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=aim-mesh bench CA', '-days', '2', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt']);
  leaf(dir, 'server', SERVER_NAME, [
    'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth',
    `subjectAltName=DNS:${SERVER_NAME},IP:127.0.0.1,URI:spiffe://bench.local/ns/default/dc/dc1/svc/bench-backend`, '',
  ].join('\n'));
  leaf(dir, 'client', 'outbound.bench', [
    'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth',
    'subjectAltName=DNS:outbound.bench,URI:spiffe://bench.local/ns/default/dc/dc1/svc/bench-client', '',
  ].join('\n'));
  const p = (f: string) => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    serverPem: p('server.pem'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    clientPem: p('client.pem'),
  };
}
