/**
 * The binlog archiver's configuration (one JSON file on the backup host, written by
 * `tandem up`), its option file for the MariaDB clients, and the mariadb-binlog command.
 * The password lives only in the option file (mode 0600): never on a command line,
 * where any process of the host could read it.
 */
import path from 'node:path';

export interface ArchiverNode {
  readonly host: string;
  readonly address: string;
  readonly port: number;
}

export interface ArchiverConfig {
  /** The archive: one folder per database host, and index.json. */
  readonly archiveDir: string;
  /** Every database host: the archiver follows whichever is writable. */
  readonly nodes: readonly ArchiverNode[];
  /** `[client]` option file with the archive user and its password (0600). */
  readonly defaultsFile: string;
  /** The stack's backup key (0600): closed files are encrypted with it. */
  readonly keyFile: string;
  /** The replica server id mariadb-binlog presents (unique among the stack's servers). */
  readonly serverId: number;
  /** JSON the archiver rewrites each tick, for `tandem status`. */
  readonly stateFile: string;
  /**
   * The running mariadb-binlog's PID: an archiver killed with -9 leaves its stream running,
   * and the next one ends that stream before it starts its own (two writers, one file).
   */
  readonly streamPidFile: string;
  /** Where it serves /metrics (Prometheus) and /state. */
  readonly listen: { readonly address: string; readonly port: number };
  /** Probe and scan period. */
  readonly tickMs: number;
  /**
   * The live file is plaintext while it is appended to: after this long the archiver
   * seals it (cuts it after its last transaction, encrypts it, and streams on from that
   * position into a new segment), so no plaintext stays on disk for longer.
   */
  readonly sealEveryS: number;
}

/** The server id of the archive's stream: far above the db hosts' (1, 2, ...). */
export const ARCHIVER_SERVER_ID = 4001;

/** The archiver's option file: read by mariadb-binlog (`--defaults-extra-file`) and by the archiver itself. */
export function renderArchiverOptionFile(user: string, password: string): string {
  if (/[\s"'\\#]/.test(user) || /[\s"'\\#]/.test(password))
    throw new Error('the archive user and password must not hold spaces, quotes, backslashes or #');
  return `[client]\nuser = ${user}\npassword = ${password}\n`;
}

/** The user and password from an option file written by `renderArchiverOptionFile`. */
export function parseArchiverOptionFile(text: string): { user: string; password: string } {
  const value = (key: string) => new RegExp(`^${key}\\s*=\\s*(\\S+)\\s*$`, 'm').exec(text)?.[1];
  const user = value('user');
  const password = value('password');
  if (!user || !password) throw new Error('the archiver option file has no user or password');
  return { user, password };
}

/** The archive's names for a stream from `startPos`: `s<pos>-<binlog>`, plain `<binlog>` from the start. */
export function segmentPrefix(startPos: number): string {
  return startPos > 4 ? `s${startPos}-` : '';
}

/** The server's binlog name of an archived file's name. */
export function binlogOf(name: string): string {
  return name.replace(/^s\d+-/, '');
}

/** The folder of `host`'s files in the archive. */
export function hostFolder(archiveDir: string, host: string): string {
  return path.join(archiveDir, host);
}

/**
 * `mariadb-binlog` streaming `node`'s binlog from `startFile` on, raw, for ever, into
 * `<archiveDir>/<host>/` (files named as on the server). It does not reconnect: the
 * archiver restarts it. (MariaDB's client names the replica id `--stop-never-slave-server-id`.)
 */
export function archiveStreamCommand(
  config: ArchiverConfig,
  node: ArchiverNode,
  startFile: string,
  startPos = 4,
): string[] {
  return [
    'mariadb-binlog',
    // Must be the first option.
    `--defaults-extra-file=${config.defaultsFile}`,
    '--read-from-remote-server',
    `--host=${node.address}`,
    `--port=${node.port}`,
    '--raw',
    '--stop-never',
    `--stop-never-slave-server-id=${config.serverId}`,
    // A segment after a sealed one starts mid-file, under its own prefix.
    ...(startPos > 4 ? [`--start-position=${startPos}`] : []),
    `--result-file=${hostFolder(config.archiveDir, node.host)}${path.sep}${segmentPrefix(startPos)}`,
    startFile,
  ];
}
