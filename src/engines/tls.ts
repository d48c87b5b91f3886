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

const csr = (key: string, commonName: string, out: string) => [
  OPENSSL,
  'req',
  '-new',
  '-key',
  key,
  '-subj',
  `/O=tandem/CN=${commonName}`,
  '-out',
  out,
];

/** Signed by the CA for SITE_DAYS. Without -CAserial, OpenSSL 3 picks a random serial and writes no .srl file. */
const sign = (tls: Pick<TlsPaths, 'caCert' | 'caKey'>, csrFile: string, extensions: string, out: string) => [
  OPENSSL,
  'x509',
  '-req',
  '-in',
  csrFile,
  '-CA',
  tls.caCert,
  '-CAkey',
  tls.caKey,
  '-sha256',
  '-days',
  String(SITE_DAYS),
  '-extfile',
  extensions,
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

/**
 * Extensions of an etcd certificate. A member's serves its client and peer ports and
 * is a client of its peers (peer-client-cert-auth), so it is both, for its address; the
 * client certificate of tandem and the sentinels is a client only. etcd checks a peer's
 * source address against its certificate's IP names: on loopback every connection to a
 * 127.x address leaves from 127.0.0.1, so a loopback member's certificate names it too.
 */
export function renderEtcdExtensions(use: { readonly addresses: readonly string[] } | 'client'): string {
  return [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    `extendedKeyUsage = ${use === 'client' ? 'clientAuth' : 'serverAuth, clientAuth'}`,
    ...(use === 'client' ? [] : [`subjectAltName = ${use.addresses.map((a) => `IP:${a}`).join(', ')}`]),
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid, issuer',
    '',
  ].join('\n');
}

/** One certificate the CA signs: its key, signing request, extension file and output. */
export interface CertFiles {
  readonly key: string;
  readonly csr: string;
  readonly extensions: string;
  readonly cert: string;
}

export interface TlsTool extends Tool {
  /** An EC P-256 private key at `out`. Run with umask 077. */
  keyCommand(out: string): string[];
  /** A signing request for `files.key` with the subject `/O=tandem/CN=<commonName>`. */
  csrCommand(files: CertFiles, commonName: string): string[];
  /** The certificate, signed by the CA for `SITE_DAYS`, with the extensions in `files.extensions`. */
  signCommand(tls: Pick<TlsPaths, 'caCert' | 'caKey'>, files: CertFiles): string[];
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
  keyCommand: (out) => ecKey(out),
  csrCommand: (files, commonName) => csr(files.key, commonName, files.csr),
  signCommand: (tls, files) => sign(tls, files.csr, files.extensions, files.cert),
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
  siteCsrCommand: (plan) => csr(plan.tls.key, plan.hostnames[0]!, siteCsrPath(plan.tls)),
  siteCertCommand: (plan) => sign(plan.tls, siteCsrPath(plan.tls), siteExtensionsPath(plan.tls), plan.tls.cert),
  verifyCommand: (tls) => [OPENSSL, 'verify', '-CAfile', tls.caCert, tls.cert],
};
