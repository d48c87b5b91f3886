/**
 * The command line: which commands there are, the options each takes, their help, and
 * `parseCommandLine()`, which turns argv into `Args` or a usage error. Pure: no I/O.
 */
import { parseArgs } from 'node:util';
import { TandemError } from '../errors.ts';

interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** The value's name in the help, for string options. */
  readonly value?: string;
  readonly help: string;
}

/** Every option any command takes; each command names the ones it takes. */
const OPTIONS = {
  config: {
    type: 'string',
    short: 'c',
    value: 'FILE',
    help: "the stack's config file (default: tandem.config.ts)",
  },
  json: { type: 'boolean', help: 'print the result as JSON (no progress lines)' },
  out: { type: 'string', value: 'DIR', help: 'the folder to render into (default: <stateDir>/plan)' },
  yes: { type: 'boolean', short: 'y', help: 'go ahead without asking for confirmation' },
  wait: { type: 'boolean', help: "wait for another tandem holding the stack's lock instead of exiting" },
  duration: { type: 'string', value: 'SECONDS', help: 'how long `chaos run` loads each scenario' },
  to: { type: 'string', value: 'HOST', help: 'the database host to promote (default: the eligible replica)' },
  force: {
    type: 'boolean',
    help: 'promote although no replica is known to hold every acknowledged write (may lose writes)',
  },
  follow: { type: 'boolean', short: 'f', help: 'keep printing new lines until Ctrl-C' },
  since: {
    type: 'string',
    value: 'WHEN',
    help: 'only lines from this long ago (30s, 10m, 2h, 1d) or this time (2026-11-24T17:00:00Z) on',
  },
  port: { type: 'string', value: 'PORT', help: 'the port on 127.0.0.1 (default: 7070; 0: any free one)' },
  for: { type: 'string', value: 'SECONDS', help: 'stop after this many seconds (default: run until Ctrl-C)' },
  // Backups (issue 10).
  full: { type: 'boolean', help: 'a full backup (the default)' },
  incremental: { type: 'boolean', help: 'an incremental backup on the last verified one' },
  check: { type: 'boolean', help: "verify every stored backup's checksum first (marks a corrupt one failed)" },
  // Restore (issue 10).
  at: {
    type: 'string',
    value: 'TIME',
    help: 'the point to restore to, to the second (UTC): 2026-11-25T03:04:05Z, "2026-11-25 03:04:05", unix seconds, or now',
  },
  gtid: { type: 'string', value: 'GTID', help: 'the point to restore to: the last transaction kept (0-1-1234)' },
  into: {
    type: 'string',
    value: 'DIR',
    help: 'restore into a scratch MariaDB in DIR (left running) instead of the stack',
  },
  'dry-run': { type: 'boolean', help: 'say what the restore would use and lose; change nothing' },
  // Deploys (issue 11).
  code: { type: 'string', value: 'DIR', help: 'the code base to release (default: app.codeDir, or the bundled app)' },
  parallel: {
    type: 'boolean',
    help: 'roll about half of the servers at a time (more than two servers), the others serving meanwhile',
  },
  'trust-new-host-keys': {
    type: 'boolean',
    help: 'accept and record the key of an SSH host that known_hosts does not list yet (trust on first use)',
  },
  help: { type: 'boolean', short: 'h', help: "this command's help" },
} as const satisfies Record<string, OptionSpec>;

type OptionName = keyof typeof OPTIONS;

interface CommandSpec {
  /** What follows `tandem <name>` in the usage line, besides the options. */
  readonly operands?: string;
  readonly summary: string;
  /** Options besides --config and --help, which every command takes. */
  readonly options: readonly OptionName[];
}

export const COMMANDS = {
  up: {
    summary: "bring the whole stack up (idempotent); prints the site's URL",
    options: ['json', 'wait'],
  },
  status: { summary: 'hosts, services, load balancer and database state', options: ['json'] },
  plan: {
    summary: 'render every file into a folder and diff against what runs',
    options: ['out', 'json'],
  },
  down: { summary: 'stop everything, keep data', options: ['json', 'wait'] },
  destroy: {
    summary: 'stop everything and remove the state folder (asks unless --yes)',
    options: ['yes', 'json', 'wait'],
  },
  doctor: {
    summary: 'what is missing on this machine, and how to get it; on ssh hosting, each host over SSH',
    options: ['json', 'trust-new-host-keys'],
  },
  ca: { summary: 'print the path of the certificate a client should trust', options: ['json'] },
  chaos: {
    operands: '<chaos command> [<target>...]',
    summary: 'inject faults under a recorded load and judge the promises',
    options: ['duration', 'json', 'wait'],
  },
  switchover: {
    summary: 'move the primary role to a replica, planned: writes pause ≤ 1 s, none fail',
    options: ['to', 'json', 'wait'],
  },
  failover: {
    summary: 'promote a replica now, for a person, when no replica is eligible (needs --force)',
    options: ['to', 'force', 'json', 'wait'],
  },
  logs: {
    operands: '[<host>[/<service>]]',
    summary: "every service's logs (or one host's, or one service's), merged in time order",
    options: ['follow', 'since', 'json'],
  },
  dashboard: {
    summary: 'serve a live web page of the stack: topology, charts, alerts (on 127.0.0.1)',
    options: ['port', 'for'],
  },
  alerts: {
    summary: 'the alerts that fire now (Alertmanager on the monitor host): name, host, since when, summary',
    options: ['json'],
  },
  // Backups (issue 10): through the backup agent on the backup host.
  backup: {
    summary: 'take a backup now and drill it (restore into a scratch MariaDB, compare every table)',
    options: ['full', 'incremental', 'json'],
  },
  backups: {
    summary: 'the stored backups: time, kind, GTID, size, verified or failed',
    options: ['check', 'json'],
  },
  restore: {
    summary: 'restore the databases to a point in time or GTID from the backups and the binlog archive',
    options: ['at', 'gtid', 'into', 'dry-run', 'yes', 'json', 'wait'],
  },
  // Deploys (issue 11).
  deploy: {
    summary: 'release the code base and roll it across the servers one at a time; rolls back by itself when it is bad',
    options: ['code', 'parallel', 'json', 'wait'],
  },
  rollback: {
    summary: 'go back to the previous release, by the same rolling procedure',
    options: ['parallel', 'json', 'wait'],
  },
  releases: { summary: 'the releases kept, and which one runs where', options: ['json'] },
  lab: {
    operands: 'up|down',
    summary: "ssh hosting's lab on this machine: a namespace and a real sshd per host (up), or none (down)",
    options: ['json'],
  },
  help: { operands: '[<command>]', summary: "a command's options", options: [] },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export interface Args {
  /** undefined: no command given (usage, exit 1). */
  readonly command: CommandName | undefined;
  /** `help`: the command whose help to print (undefined: the general usage). */
  readonly topic?: CommandName;
  readonly config: string;
  readonly json: boolean;
  readonly yes: boolean;
  /** Wait for another tandem holding the stack's lock instead of exiting. */
  readonly wait: boolean;
  readonly out: string | undefined;
  /** `chaos run --duration`, in ms. */
  readonly durationMs: number | undefined;
  /** switchover/failover: the database host to promote. */
  readonly to: string | undefined;
  /** failover: promote although no replica is eligible. */
  readonly force: boolean;
  /** logs: keep printing new lines. */
  readonly follow: boolean;
  /** logs --since, as typed (orchestrate/log-lines.ts reads it). */
  readonly since: string | undefined;
  /** dashboard --port (undefined: its default). */
  readonly port: number | undefined;
  /** dashboard --for, in ms (undefined: until Ctrl-C). */
  readonly forMs: number | undefined;
  /** backup --incremental (else full); present only when given. */
  readonly incremental?: boolean;
  /** backups --check; present only when given. */
  readonly check?: boolean;
  /** restore: the target, parsed (`--at` or `--gtid`). */
  readonly target?: { readonly time: number } | { readonly gtid: string };
  /** restore --into. */
  readonly into?: string;
  /** restore --dry-run. */
  readonly dryRun?: boolean;
  /** deploy --code. */
  readonly code?: string;
  /** deploy/rollback --parallel. */
  readonly parallel?: boolean;
  /** --trust-new-host-keys: SSH hosts not in known_hosts are accepted and recorded. */
  readonly trustNewHostKeys?: boolean;
  /** Operands after the command (chaos: its command and targets; logs: its selector; lab: up or down). */
  readonly rest: readonly string[];
}

const GLOBAL_OPTIONS: readonly OptionName[] = ['config', 'help'];

/** The chaos command's own commands, for its help (src/cli/chaos.ts runs them). */
export const CHAOS_COMMANDS = `  run <scenario>|all     run a scenario under a recorded load, heal, check, report;
                         exits 1 unless every promise was kept  [--duration <seconds>]
  list                   the scenarios and their promises
  kill <target>          kill -9 the target's engines (their supervisors restart them)
  kill-host <target>     kill every engine of the target and its supervisor (netns, a host:
                         its link down first): down until heal
  pause <target>         SIGSTOP the target's engines (whole process trees)
  resume [<target>]      SIGCONT what pause stopped
  partition <a> [<b>]    drop all traffic between group a and group b (default: everyone
                         else) with nftables rules in a's namespaces (netns hosting only)
  slow-link <host> [<rate>]  limit the host's link to <rate> each way, e.g. 1mbit
                         (tc tbf; netns hosting only; this kernel has no netem: no delay/loss)
  heal                   undo every active fault and bring the stack back (tandem up)
  active                 the faults injected and not yet healed

  targets: server-1, server-1/app, server-1/nginx, lb-1/haproxy, db:primary, db:replica
           (the database writable now, and another one), db:primary-host, db:replica-host
           (their whole hosts), etcd:member, lb:active, lb:standby (netns: the LB holding
           the VIP now, and the other one); a group is a comma-separated list: server-1,lb-1
`;

function optionLines(names: readonly OptionName[]): string[] {
  const flags = names.map((n) => {
    const o: OptionSpec = OPTIONS[n];
    return `${o.short ? `-${o.short}, ` : '    '}--${n}${o.value ? ` ${o.value}` : ''}`;
  });
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  return flags.map((f, i) => `  ${f.padEnd(width)}${OPTIONS[names[i]!].help}`);
}

/** The general usage: every command and its summary. */
export function renderUsage(): string {
  const commands = Object.entries(COMMANDS)
    .filter(([name]) => name !== 'help')
    .map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return [
    'usage: tandem <command> [--config tandem.config.ts] [options]',
    '',
    ...commands,
    '',
    "  tandem <command> --help (or tandem help <command>) lists that command's options.",
    '',
  ].join('\n');
}

/** One command's help: its usage line, what it does, and every option it takes. */
export function renderCommandHelp(name: CommandName): string {
  const c: CommandSpec = COMMANDS[name];
  const operands = c.operands ? ` ${c.operands}` : '';
  return [
    `usage: tandem ${name}${operands} [options]`,
    '',
    `  ${c.summary}`,
    '',
    ...(name === 'chaos' ? ['chaos commands:', CHAOS_COMMANDS] : []),
    'options:',
    ...optionLines([...GLOBAL_OPTIONS.slice(0, 1), ...c.options, ...GLOBAL_OPTIONS.slice(1)]),
    '',
  ].join('\n');
}

const isCommand = (name: string | undefined): name is CommandName =>
  name !== undefined && Object.hasOwn(COMMANDS, name);

/**
 * argv (after `tandem`) → Args. Strict: an option the command does not take, a missing
 * value or a stray operand is a TANDEM_USAGE error whose hint is the command's help.
 * parseArgs runs with strict off and its tokens are checked here, so that every message
 * names the option as it was typed.
 */
export function parseCommandLine(argv: readonly string[]): Args {
  const { values, positionals, tokens } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const [first, ...rest] = positionals;
  const command = isCommand(first) ? first : undefined;
  const usage = command && command !== 'help' ? renderCommandHelp(command) : renderUsage();
  const fail = (message: string): never => {
    throw new TandemError('TANDEM_USAGE', message, usage);
  };
  if (first !== undefined && !command) fail(`unknown command '${first}'`);
  const allowed: readonly OptionName[] = command ? [...GLOBAL_OPTIONS, ...COMMANDS[command].options] : GLOBAL_OPTIONS;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const name = t.name as OptionName;
    if (!Object.hasOwn(OPTIONS, name)) fail(`unknown option ${t.rawName}`);
    if (!allowed.includes(name)) fail(`${command ?? 'tandem'} takes no option ${t.rawName}`);
    const spec: OptionSpec = OPTIONS[name];
    if (spec.type === 'string' && (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))))
      fail(`${t.rawName} needs a value`);
    if (spec.type === 'boolean' && t.value !== undefined) fail(`${t.rawName} takes no value`);
  }
  let topic: CommandName | undefined;
  if (values.help) topic = command === 'help' ? undefined : command;
  else if (command === 'help') {
    if (rest.length > 1) fail(`unexpected argument ${rest[1]}`);
    if (rest[0] !== undefined && !isCommand(rest[0])) fail(`unknown command '${rest[0]}'`);
    topic = rest[0] as CommandName | undefined;
  } else if (command === 'logs' && rest.length > 1) fail(`unexpected argument ${rest[1]}`);
  else if (command === 'lab' && (rest.length !== 1 || !['up', 'down'].includes(rest[0]!)))
    fail(rest.length > 1 ? `unexpected argument ${rest[1]}` : 'lab needs up or down');
  else if (command !== 'chaos' && command !== 'logs' && command !== 'lab' && rest.length > 0)
    fail(`unexpected argument ${rest[0]}`);
  const msOf = (value: string | boolean | undefined, flag: string): number | undefined => {
    if (typeof value !== 'string') return undefined;
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds <= 0) fail(`${flag} needs a number of seconds`);
    return seconds * 1000;
  };
  const durationMs = msOf(values.duration, '--duration');
  let port: number | undefined;
  if (typeof values.port === 'string') {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port needs a port number (0 to 65535)');
  }
  const forMs = msOf(values.for, '--for');
  if (values.full === true && values.incremental === true) fail('--full and --incremental exclude each other');
  let target: Args['target'];
  if (command === 'restore' && !values.help) {
    if ((typeof values.at === 'string') === (typeof values.gtid === 'string'))
      fail('restore needs one of --at TIME or --gtid GTID');
    if (typeof values.at === 'string') {
      const time = parseRestoreTime(values.at, Date.now());
      if (time === undefined)
        fail(`--at ${values.at}: not a time (2026-11-25T03:04:05Z, "2026-11-25 03:04:05" UTC, unix seconds, or now)`);
      target = { time: time! };
    } else {
      const gtid = String(values.gtid);
      if (!/^\d+-\d+-\d+(,\d+-\d+-\d+)*$/.test(gtid))
        fail(`--gtid ${gtid}: not a GTID (domain-server-sequence, e.g. 0-1-1234)`);
      target = { gtid };
    }
    if (values.into !== undefined && values['dry-run'] === true) fail('--into and --dry-run exclude each other');
  }
  return {
    command: values.help ? 'help' : command,
    ...(topic ? { topic } : {}),
    config: typeof values.config === 'string' ? values.config : 'tandem.config.ts',
    json: values.json === true,
    yes: values.yes === true,
    wait: values.wait === true,
    out: typeof values.out === 'string' ? values.out : undefined,
    durationMs,
    to: typeof values.to === 'string' ? values.to : undefined,
    force: values.force === true,
    follow: values.follow === true,
    since: typeof values.since === 'string' ? values.since : undefined,
    port,
    forMs,
    rest: command === 'chaos' || command === 'logs' || command === 'lab' ? rest : [],
    ...(values.incremental === true ? { incremental: true } : {}),
    ...(values.check === true ? { check: true } : {}),
    ...(target ? { target } : {}),
    ...(typeof values.into === 'string' ? { into: values.into } : {}),
    ...(values['dry-run'] === true ? { dryRun: true } : {}),
    ...(typeof values.code === 'string' ? { code: values.code } : {}),
    ...(values.parallel === true ? { parallel: true } : {}),
    ...(values['trust-new-host-keys'] === true ? { trustNewHostKeys: true } : {}),
  };
}

/**
 * A restore point to the second, as unix seconds (binlog times have whole seconds):
 * ISO 8601 with a zone, `YYYY-MM-DD HH:MM:SS` (UTC), unix seconds, or `now`.
 */
export function parseRestoreTime(text: string, nowMs: number): number | undefined {
  const t = text.trim();
  if (t === 'now') return Math.floor(nowMs / 1000);
  if (/^\d{9,11}$/.test(t)) return Number(t);
  const plain = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})$/.exec(t);
  const iso = plain ? `${plain[1]}T${plain[2]}Z` : t;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(iso)) return undefined;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}
