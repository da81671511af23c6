/**
 * `aim-mesh ca`: the local CA used by the `local-ca` identity source.
 *   ca init   --dir DIR                 root key, root cert, trust bundle (node-forge)
 *   ca issue  --service NAME [--dir DIR] [--ttl 24h] [--out DIR]   a leaf for testing
 *   ca rotate --dir DIR                 new active root; the bundle keeps the old one
 *   ca prune  --dir DIR                 end a rotation: bundle = the active root only
 * Keys are created at run time with mode 0600 and a .gitignore; never commit them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../config/duration.ts';
import { initCa, loadCa, pruneCa, rotateCa, type LocalCa } from '../../identity/ca.ts';
import { issueLeaf, type LeafKeyType } from '../../identity/issue.ts';
import { formatSpiffeId } from '../../identity/spiffe.ts';

export const usage = `Usage: aim-mesh ca <init|issue|rotate|prune> [options]

Manage the local CA of the local-ca identity source.

  ca init --dir DIR [--trust-domain TD] [--force]
      Create a root key (ca-key.pem, mode 0600), root certificate (ca-cert.pem)
      and trust bundle (trust-bundle.pem) in DIR. The trust domain defaults to
      aim.local. Refuses to overwrite an existing CA without --force.

  ca issue --service NAME [--dir DIR] [--ttl 24h] [--out DIR]
           [--namespace default] [--datacenter dc1] [--key-type ecdsa-p256|rsa-2048]
      Issue a leaf for spiffe://<td>/ns/<ns>/dc/<dc>/svc/NAME, signed by the CA
      in DIR (default certs). Writes NAME-cert.pem, NAME-key.pem (0600) and
      ca-bundle.pem to --out (default: DIR). For tests and the files source.

  ca rotate --dir DIR
      Start a root rotation: a new root signs from now on, and the bundle keeps
      the old root so existing leaves stay trusted during the overlap.

  ca prune --dir DIR
      End a rotation: the bundle keeps only the active root.
`;

function summary(ca: LocalCa): string {
  return `trust domain ${ca.trustDomain}, active root ${ca.serial} (valid until ${ca.notAfter.toISOString()}), ${ca.rootsPem.length} root(s) in the bundle`;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      strict: true,
      options: {
        dir: { type: 'string' }, 'trust-domain': { type: 'string' }, force: { type: 'boolean' },
        service: { type: 'string' }, ttl: { type: 'string' }, out: { type: 'string' },
        namespace: { type: 'string' }, datacenter: { type: 'string' }, 'key-type': { type: 'string' },
      },
    }));
  } catch (err) {
    process.stderr.write(`aim-mesh ca: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const dir = values.dir ?? (sub === 'issue' ? 'certs' : undefined);
  const fail = (msg: string) => { process.stderr.write(`aim-mesh ca ${sub ?? ''}: ${msg}\n`); return 2; };
  if (dir === undefined) return fail('--dir DIR is required');
  try {
    switch (sub) {
      case 'init': {
        const ca = await initCa(dir, { trustDomain: values['trust-domain'], force: values.force });
        process.stdout.write(`created CA in ${dir}: ${summary(ca)}\n`);
        return 0;
      }
      case 'rotate': {
        const ca = await rotateCa(dir);
        process.stdout.write(`rotated CA in ${dir}: ${summary(ca)}\nrun "aim-mesh ca prune --dir ${dir}" once every leaf has been renewed\n`);
        return 0;
      }
      case 'prune': {
        const ca = await pruneCa(dir);
        process.stdout.write(`pruned CA in ${dir}: ${summary(ca)}\n`);
        return 0;
      }
      case 'issue': {
        if (values.service === undefined) return fail('--service NAME is required');
        const ttlMs = parseDuration(values.ttl ?? '24h');
        if (ttlMs === undefined || ttlMs < 1000) return fail(`--ttl ${values.ttl}: expected a duration of at least 1s, e.g. 24h, 5m, 30s`);
        const keyType = (values['key-type'] ?? 'ecdsa-p256') as LeafKeyType;
        if (keyType !== 'ecdsa-p256' && keyType !== 'rsa-2048') return fail('--key-type must be ecdsa-p256 or rsa-2048');
        const ca = await loadCa(dir, { trustDomain: values['trust-domain'] });
        const spiffeId = formatSpiffeId({
          trustDomain: ca.trustDomain, namespace: values.namespace ?? 'default', datacenter: values.datacenter ?? 'dc1', service: values.service,
        });
        const leaf = issueLeaf(ca, { spiffeId, ttlMs, keyType });
        const out = values.out ?? dir;
        await mkdir(out, { recursive: true });
        const name = values.service;
        await writeFile(join(out, `${name}-key.pem`), leaf.keyPem, { mode: 0o600 });
        await writeFile(join(out, `${name}-cert.pem`), [leaf.certPem, ...ca.chainPem].join(''));
        await writeFile(join(out, 'ca-bundle.pem'), ca.rootsPem.join(''));
        process.stdout.write(`issued ${spiffeId}\n  serial ${leaf.serial}, valid ${leaf.notBefore.toISOString()} .. ${leaf.notAfter.toISOString()}\n`
          + `  ${join(out, `${name}-cert.pem`)}\n  ${join(out, `${name}-key.pem`)}\n  ${join(out, 'ca-bundle.pem')}\n`);
        return 0;
      }
      default:
        process.stderr.write(usage);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`aim-mesh ca ${sub}: ${(err as Error).message}\n`);
    return 1;
  }
}
