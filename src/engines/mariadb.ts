/**
 * MariaDB 10.11: every command reads the rendered option file with `--defaults-file`
 * (which must come first on the command line), so the server, the installer and the
 * clients agree on the socket and datadir and ignore Debian's /etc/mysql.
 */
import type { ServicePaths } from '../config/paths.ts';
import type { Engine, LivenessProbe } from './types.ts';

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL_DB = '/usr/bin/mariadb-install-db';
const CLIENT = '/usr/bin/mariadb';
const ADMIN = '/usr/bin/mariadb-admin';

const defaults = (paths: ServicePaths) => `--defaults-file=${paths.config}`;

export interface MariadbEngine extends Engine {
  /** Initialises an empty datadir. */
  installCommand(paths: ServicePaths): string[];
  /** Runs SQL as root over the socket. */
  clientCommand(paths: ServicePaths, sql?: string): string[];
  /** Exit 0 once the server answers on its socket. */
  pingCommand(paths: ServicePaths): string[];
  livenessProbe(paths: ServicePaths): LivenessProbe;
}

/**
 * The liveness query: a read that no commit, lock or semi-sync wait stands in front of,
 * so that only a server that no longer serves fails it. Each probe is a new connection
 * over the socket (a hung server of MDEV-41349 accepts none), and `SHOW GLOBAL STATUS`
 * sums the counters of every connection, so it walks the server's list of threads,
 * which `SELECT 1` does not touch. Never a write: a commit waiting for a replica's
 * semi-sync acknowledgement is a healthy server (the failover sentinel's business).
 */
export const LIVENESS_QUERY = "SHOW GLOBAL STATUS LIKE 'Uptime'";

export const mariadbEngine: MariadbEngine = {
  name: 'mariadb',
  binary: MARIADBD,
  debianPackage: 'mariadb-server',
  binaries: [
    { path: MARIADBD, debianPackage: 'mariadb-server' },
    { path: INSTALL_DB, debianPackage: 'mariadb-server' },
    { path: CLIENT, debianPackage: 'mariadb-client' },
    { path: ADMIN, debianPackage: 'mariadb-client' },
  ],
  // 10.11 has no --validate-config: --help --verbose parses every option and exits
  // non-zero naming an unknown one. It starts nothing and needs no datadir.
  checkCommand: (paths: ServicePaths): string[] => [MARIADBD, defaults(paths), '--help', '--verbose'],
  runCommand: (paths: ServicePaths): string[] => [MARIADBD, defaults(paths)],
  /**
   * Creates the system tables in the (empty) datadir. root@localhost authenticates by
   * unix_socket only: no root password is ever stored. `--skip-name-resolve` spares the
   * installer a lookup of this machine's host name (it fails in a bare namespace).
   */
  installCommand: (paths: ServicePaths): string[] => [
    INSTALL_DB,
    defaults(paths),
    '--auth-root-authentication-method=socket',
    '--skip-test-db',
    '--skip-name-resolve',
  ],
  /** Runs SQL as root over the socket; tab-separated rows, no column names. Without `sql`, reads stdin. */
  clientCommand: (paths: ServicePaths, sql?: string): string[] => [
    CLIENT,
    defaults(paths),
    '-N',
    '-B',
    ...(sql === undefined ? [] : ['-e', sql]),
  ],
  /** Exit 0 once the server accepts connections on its socket. */
  pingCommand: (paths: ServicePaths): string[] => [ADMIN, defaults(paths), '--connect-timeout=2', 'ping'],
  /**
   * Three missed answers in a row restart it: found in 3.4–4.2 s (measured on a frozen
   * server, whose handshake never comes: each probe fails at its 1 s connect timeout,
   * ERROR 2013). 30 s of grace after a start, and failures count
   * before the first answer only after 5 min (InnoDB crash recovery of a big redo log).
   * A hung server gets 5 s to stop on SIGTERM, not the minute of a planned stop: it
   * seldom finishes, and InnoDB recovers from the SIGKILL.
   */
  livenessProbe: (paths: ServicePaths): LivenessProbe => ({
    argv: [CLIENT, defaults(paths), '--connect-timeout=1', '-N', '-B', '-e', LIVENESS_QUERY],
    everyMs: 1000,
    timeoutMs: 2000,
    failures: 3,
    graceMs: 30_000,
    startupMs: 300_000,
    stopTimeoutMs: 5000,
  }),
  // mariadbd's SIGHUP flushes logs and privileges; it never re-reads the option file.
  reloadSignal: null,
  // SIGTERM is a clean shutdown (InnoDB flushes; the next start needs no recovery).
  stopSignal: 'SIGTERM',
  stopGraceMs: 60_000,
};
