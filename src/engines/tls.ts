/**
 * tandem's local certificate authority, in the manner of mkcert, with OpenSSL 3:
 * an EC P-256 CA (10 years) and a site certificate it signs for every name of the
 * Plan (`plan.hostnames`), short-lived enough for browsers (≤ 825 days).
 *
 * Builders only. The caller (orchestrate/) runs them in order — caKey, caCert, siteKey,
 * siteCsr, then siteCert with the extension file rendered by `renderSiteExtensions` —
 * and concatenates site.crt and site.key into `plan.tls.pem` for HAProxy. Private keys
 * (ca.key, site.key, site.pem) must be 0600 from the moment they exist: OpenSSL 3's
 * `genpkey` creates its output 0600 whatever the umask (observed with 3.0), but the
 * caller writes site.pem itself (`mode: 0o600`) and should run all of this under
 * `umask 077` anyway. When the user supplies cert and key, none of this runs.
 */
import type { Plan } from '../config/types.ts';
import type { Tool } from './types.ts';

const OPENSSL = '/usr/bin/openssl';

/** Days the CA certificate is valid. */
export const CA_DAYS = 3650;
/** Days the site certificate is valid: Apple's and browsers' upper bound for a TLS server certificate. */
export const SITE_DAYS = 825;

type TlsPaths = Pick<Plan['tls'], 'caCert' | 'caKey' | 'cert' | 'key'>;

/** The signing request sits next to the site key; it is not kept secret. */
export function siteCsrPath(tls: Pick<Plan['tls'], 'key'>): string {
  return `${tls.key.replace(/\.key$/, '')}.csr`;
}

/** The extension file `siteCertCommand` reads (written next to the key by the caller). */
export function siteExtensionsPath(tls: Pick<Plan['tls'], 'key'>): string {
  return `${tls.key.replace(/\.key$/, '')}.ext`;
}

const ecKey = (out: string) => [
  OPENSSL,
  'genpkey',
  '-algorithm',
  'EC',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-out',
  out,
];

/** Extensions of the site certificate: a TLS server for exactly the Plan's names. */
export function renderSiteExtensions(plan: Pick<Plan, 'hostnames'>): string {
  return [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${plan.hostnames.map((n) => `DNS:${n}`).join(', ')}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid, issuer',
    '',
  ].join('\n');
}

export interface TlsTool extends Tool {
  /** The CA's private key (EC P-256). Run with umask 077. */
  caKeyCommand(tls: TlsPaths): string[];
  /** The self-signed CA certificate, named after the stack. */
  caCertCommand(plan: Pick<Plan, 'name' | 'tls'>): string[];
  /** The site's private key (EC P-256). Run with umask 077. */
  siteKeyCommand(tls: TlsPaths): string[];
  /** A signing request for the site key, subject the first host name. */
  siteCsrCommand(plan: Pick<Plan, 'hostnames' | 'tls'>): string[];
  /** The site certificate, signed by the CA, with the extensions from `renderSiteExtensions`. */
  siteCertCommand(plan: Pick<Plan, 'tls'>): string[];
  /** Exit 0 when the site certificate chains to the CA. */
  verifyCommand(tls: TlsPaths): string[];
}

export const tlsTool: TlsTool = {
  name: 'openssl',
  binary: OPENSSL,
  debianPackage: 'openssl',
  binaries: [{ path: OPENSSL, debianPackage: 'openssl' }],
  caKeyCommand: (tls) => ecKey(tls.caKey),
  caCertCommand: (plan) => [
    OPENSSL,
    'req',
    '-x509',
    '-new',
    '-key',
    plan.tls.caKey,
    '-sha256',
    '-days',
    String(CA_DAYS),
    '-subj',
    `/O=tandem/CN=tandem local CA ${plan.name}`,
    // -addext replaces the config file's own v3_ca values for these extensions.
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-addext',
    'subjectKeyIdentifier=hash',
    '-out',
    plan.tls.caCert,
  ],
  siteKeyCommand: (tls) => ecKey(tls.key),
  siteCsrCommand: (plan) => [
    OPENSSL,
    'req',
    '-new',
    '-key',
    plan.tls.key,
    '-subj',
    `/O=tandem/CN=${plan.hostnames[0]}`,
    '-out',
    siteCsrPath(plan.tls),
  ],
  // Without -CAserial/-CAcreateserial, OpenSSL 3 picks a random serial and writes no
  // .srl file next to the CA.
  siteCertCommand: (plan) => [
    OPENSSL,
    'x509',
    '-req',
    '-in',
    siteCsrPath(plan.tls),
    '-CA',
    plan.tls.caCert,
    '-CAkey',
    plan.tls.caKey,
    '-sha256',
    '-days',
    String(SITE_DAYS),
    '-extfile',
    siteExtensionsPath(plan.tls),
    '-out',
    plan.tls.cert,
  ],
  verifyCommand: (tls) => [OPENSSL, 'verify', '-CAfile', tls.caCert, tls.cert],
};
