/**
 * HTTPS material: tandem's local CA (made once, key 0600) and a site certificate for
 * every name of the Plan (remade when the names change), or the user's own cert and
 * key. HAProxy reads cert + key concatenated (`plan.tls.pem`, 0600).
 */
import fs from 'node:fs';
import type { Plan } from '../config/types.ts';
import { renderSiteExtensions, siteExtensionsPath, tlsTool } from '../engines/tls.ts';
import { TandemError } from '../errors.ts';
import { run } from '../hosts/process.ts';
import { writeSecretFile } from '../hosts/secrets.ts';

export async function openssl(argv: string[]): Promise<void> {
  // Keys must never exist with wider permissions, even for an instant.
  const old = process.umask(0o077);
  try {
    await run(argv, { timeoutMs: 30_000 });
  } finally {
    process.umask(old);
  }
}

function readable(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new TandemError('TANDEM_CONFIG', `tls/${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
  }
}

/**
 * tandem's CA, made once (key 0600). The site certificate needs it unless the user
 * supplied one; etcd's certificates need it whenever failover is on, TLS or not.
 */
export async function ensureCa(plan: Pick<Plan, 'name' | 'tls'>): Promise<boolean> {
  const { tls } = plan;
  fs.mkdirSync(tls.dir, { recursive: true, mode: 0o700 });
  if (fs.existsSync(tls.caKey) && fs.existsSync(tls.caCert)) return false;
  await openssl(tlsTool.caKeyCommand(tls));
  await openssl(tlsTool.caCertCommand(plan));
  fs.chmodSync(tls.caKey, 0o600);
  return true;
}

/** Makes sure cert, key and the combined PEM exist for the Plan's names. True when anything was made. */
export async function ensureTls(plan: Plan): Promise<boolean> {
  const { tls } = plan;
  fs.mkdirSync(tls.dir, { recursive: true, mode: 0o700 });
  let changed = false;
  if (tls.userSupplied) {
    const pem = `${readable(tls.cert, 'cert').trimEnd()}\n${readable(tls.key, 'key').trimEnd()}\n`;
    if (!fs.existsSync(tls.pem) || fs.readFileSync(tls.pem, 'utf8') !== pem) {
      writeSecretFile(tls.pem, pem);
      changed = true;
    }
    return changed;
  }
  if (await ensureCa(plan)) changed = true;
  const extFile = siteExtensionsPath(tls);
  const extensions = renderSiteExtensions(plan);
  // The extensions the certificate was made with, recorded once it verified: a failed
  // run leaves the old record, and the next `up` makes the certificate again.
  const madeFile = `${extFile}.made`;
  const made = fs.existsSync(madeFile) ? fs.readFileSync(madeFile, 'utf8') : '';
  if (changed || made !== extensions || !fs.existsSync(tls.cert) || !fs.existsSync(tls.key)) {
    fs.rmSync(madeFile, { force: true });
    fs.writeFileSync(extFile, extensions);
    await openssl(tlsTool.siteKeyCommand(tls));
    await openssl(tlsTool.siteCsrCommand(plan));
    await openssl(tlsTool.siteCertCommand(plan));
    await run(tlsTool.verifyCommand(tls));
    fs.writeFileSync(madeFile, extensions);
    changed = true;
  }
  const pem = `${fs.readFileSync(tls.cert, 'utf8').trimEnd()}\n${fs.readFileSync(tls.key, 'utf8').trimEnd()}\n`;
  if (!fs.existsSync(tls.pem) || fs.readFileSync(tls.pem, 'utf8') !== pem) {
    writeSecretFile(tls.pem, pem);
    changed = true;
  }
  for (const key of [tls.caKey, tls.key]) fs.chmodSync(key, 0o600);
  return changed;
}
