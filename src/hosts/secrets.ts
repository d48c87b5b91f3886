/**
 * Secrets are generated once, kept in one file with mode 0600, and never printed. They
 * travel apart from the Plan: loaded here and handed only to the steps that need one.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The stack's generated secrets (`<stateDir>/secrets.json`). */
export interface Secrets {
  readonly dbRootPassword: string;
  readonly dbAppPassword: string;
  readonly dbReplicationPassword: string;
  readonly dbMonitorPassword: string;
  /** The backup user's: the failover sentinels reseed a diverged database with mariadb-backup. */
  readonly dbBackupPassword: string;
  /** Signs the app's cookies; shared by every app server. */
  readonly sessionSecret: string;
  /**
   * Encrypts backups and archived binlogs at rest (src/backup/crypt.ts). Without it no
   * backup can be read: keep a copy apart from the stack (README, disaster recovery).
   */
  readonly backupKey: string;
  /** The binlog archiver's user (tandem_archive), from the backup host. */
  readonly dbArchivePassword: string;
}

const KEYS: (keyof Secrets)[] = [
  'dbRootPassword',
  'dbAppPassword',
  'dbReplicationPassword',
  'dbMonitorPassword',
  'dbBackupPassword',
  'sessionSecret',
  'backupKey',
  'dbArchivePassword',
];

function generate(): string {
  return randomBytes(24).toString('base64url');
}

/** The secrets stored so far, none generated: `{}` when the file does not exist. */
export function readStoredSecrets(file: string): Partial<Secrets> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Secrets>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return {};
  }
}

/** Reads the stack's secrets, generating (and saving, 0600) any that are missing. */
export function loadOrCreateSecrets(file: string): { secrets: Secrets; created: boolean } {
  const existing = readStoredSecrets(file);
  const missing = KEYS.filter((k) => typeof existing[k] !== 'string' || existing[k] === '');
  const secrets = Object.fromEntries(KEYS.map((k) => [k, existing[k] || generate()])) as unknown as Secrets;
  if (missing.length > 0) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeSecretFile(file, JSON.stringify(secrets, null, 2));
  }
  return { secrets, created: missing.length > 0 };
}

/** Writes a file only its owner can read, atomically. */
export function writeSecretFile(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
