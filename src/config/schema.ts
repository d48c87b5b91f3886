/**
 * The one description of `tandem.config.ts`: every field's type, allowed values, range,
 * default and meaning. Validation (validate.ts) checks against it, and
 * `npm run docs` renders it to docs/CONFIG.md (reference.ts), so neither can drift.
 *
 * Adding a field: add one entry below, in the section it belongs to (and the field to
 * `StackConfig` in types.ts, which test/unit/config-schema.test.ts holds to this), put
 * its default in defaults.ts and read it here, then run `npm run docs`.
 */
import { DEFAULT_PRIMARY, DEFAULTS, defaultHostsFor } from './defaults.ts';
import type { HostConfig } from './types.ts';

export type FieldType = 'string' | 'number' | 'boolean' | 'string[]' | 'object' | 'array';

export interface Field {
  readonly type: FieldType;
  /** What the field does, for the reference (Markdown, one paragraph). */
  readonly doc: string;
  /** The only values a string (or each item of a string list) may take. */
  readonly oneOf?: readonly string[];
  /** A number's range: a port (1-65535), or a whole number from 1 to `max`. */
  readonly range?: 'port' | { readonly max: number };
  /** A rule of its own: returns what is wrong with a value of the right type, or undefined. */
  readonly check?: (value: never) => string | undefined;
  /** Only meaningful on netns hosting; validation refuses it on loopback. */
  readonly netnsOnly?: boolean;
  /** The default, one value whatever the hosting (read from defaults.ts, never re-typed). */
  readonly default?: unknown;
  /** The default when it depends on the hosting. */
  readonly defaultByHosting?: { readonly netns?: unknown; readonly loopback?: unknown; readonly ssh?: unknown };
  /** How the reference states the default when it is not a plain value (replaces it there). */
  readonly defaultText?: string;
  /** An object's fields (type 'object'), or the fields of each item (type 'array'). */
  readonly fields?: Readonly<Record<string, Field>>;
}

export type Schema = Readonly<Record<string, Field>>;

const pattern =
  (re: RegExp, message: (value: string) => string) =>
  (value: string): string | undefined =>
    re.test(value) ? undefined : message(value);

const describeHosts = (hosts: readonly HostConfig[]) =>
  hosts.map((h) => `${h.name} (${h.roles.join(', ')})`).join(', ');

export const ROLES = ['lb', 'web', 'app', 'db', 'monitor'] as const;

/** How tandem reaches a host on `ssh` hosting (`hosts[].ssh`). */
export const SSH_FIELDS: Schema = {
  address: {
    type: 'string',
    doc: 'The address or DNS name ssh connects to, e.g. `192.0.2.11`. Required. In a lab, inside `lab.subnet`.',
    check: pattern(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, (v) => `'${v}' is not an address or host name`),
  },
  user: {
    type: 'string',
    doc: "The login name. tandem needs root on the host. Unset, ssh's own choice applies (`~/.ssh/config`, else your login name); in a lab, root.",
    check: pattern(/^[a-z_][a-z0-9_-]{0,31}$/, (v) => `'${v}' is not a user name`),
    defaultText: "ssh's own (`~/.ssh/config`, else your login name); in a lab, `root`",
  },
  port: {
    type: 'number',
    range: 'port',
    doc: "The SSH port. Unset, ssh's own choice applies (`~/.ssh/config`, else 22).",
    defaultText: "ssh's own (`~/.ssh/config`, else 22)",
  },
  identityFile: {
    type: 'string',
    doc: "The private key, relative to the config file. Unset, ssh's own choice applies (the agent, `~/.ssh/config`); in a lab, the lab's key.",
    defaultText: "ssh's own; in a lab, `<stateDir>/lab/id_ed25519`",
  },
  knownHostsFile: {
    type: 'string',
    doc: 'The known_hosts file the host key is checked against, relative to the config file. A host whose key is not in it is refused unless tandem is told to trust new host keys.',
    defaultText: "ssh's own (`~/.ssh/known_hosts`); in a lab, `<stateDir>/lab/known_hosts`",
  },
};

/** The fields of one entry of `hosts`. */
export const HOST_FIELDS: Schema = {
  name: { type: 'string', doc: 'Host name, e.g. `server-1`. Lower-case letters, digits and dashes. Required.' },
  roles: { type: 'string[]', oneOf: ROLES, doc: 'What runs on the host: at least one role. Required.' },
  address: {
    type: 'string',
    doc: "The host's own address. On `loopback` hosting it must be in 127.0.0.0/8 (not 127.0.0.1); on `netns`, a private address.",
    defaultText: `the next free address of \`network.subnet\`, from .${DEFAULTS.firstHostOffset} upwards; on ssh, \`ssh.address\``,
  },
  ssh: {
    type: 'object',
    doc: "How tandem reaches the host over SSH. Required on `ssh` hosting, refused elsewhere. What is not set is left to OpenSSH's client, so `~/.ssh/config` applies.",
    fields: SSH_FIELDS,
  },
};

export const CONFIG_SCHEMA: Schema = {
  name: {
    type: 'string',
    doc: 'Short stack name; used in process titles, namespace names and the state folder.',
    check: pattern(
      /^[a-z][a-z0-9-]{0,30}$/,
      () => 'should be lower-case letters, digits and dashes, starting with a letter',
    ),
    default: DEFAULTS.name,
  },
  domain: {
    type: 'string',
    doc: "The site's domain.",
    check: pattern(/^([a-z0-9-]+\.)+[a-z]{2,}$/, (v) => `'${v}' is not a domain name`),
    default: DEFAULTS.domain,
  },
  aliases: {
    type: 'string[]',
    doc: 'Extra names in front of the domain that also serve the site (`www` → `www.foobar.com`).',
    default: DEFAULTS.aliases,
  },
  hosting: {
    type: 'string',
    oneOf: ['loopback', 'netns', 'ssh'],
    doc: 'Where hosts live. `netns`: every host a network namespace on a bridge, with its own firewall, a floating IP for the LBs and a `client` namespace playing the internet (needs root). `loopback`: every host a 127.x.y.z address; no isolation. `ssh` (in progress): real Debian hosts reached over SSH, each naming how in `hosts[].ssh`; `tandem lab up` makes such hosts on this machine.',
    defaultByHosting: { netns: 'netns', loopback: 'loopback' },
    defaultText: "`'netns'` when running as root, else `'loopback'`",
  },
  stateDir: {
    type: 'string',
    doc: "The stack's state folder (configs, logs, data, secrets), relative to the config file.",
    default: DEFAULTS.stateDir,
  },
  network: {
    type: 'object',
    doc: 'Addresses.',
    fields: {
      subnet: {
        type: 'string',
        doc: `Host addresses are handed out from here, from .${DEFAULTS.firstHostOffset} upwards. netns: a private subnet (.${DEFAULTS.bridgeOffset} is the bridge in the root namespace, .${DEFAULTS.clientOffset} the client, .${DEFAULTS.vipOffset} the VIP); loopback: inside 127.0.0.0/8.`,
        defaultByHosting: DEFAULTS.subnet,
      },
      vip: {
        type: 'string',
        doc: 'The floating IP the domain points to, held by one load balancer at a time.',
        netnsOnly: true,
        defaultText: `.${DEFAULTS.vipOffset} of the subnet`,
      },
    },
  },
  lab: {
    type: 'object',
    doc: '`ssh` hosting only: the hosts are a lab on this machine that `tandem lab up` makes and `tandem lab down` removes: a network namespace per host on a bridge, each running a real OpenSSH server on its `ssh.address` with its own `/etc/tandem` and `/var/lib/tandem`.',
    fields: {
      subnet: {
        type: 'string',
        doc: "A private subnet holding every host's `ssh.address` (.1 is the bridge in the root namespace, whose address keeps the subnet on this machine). Required.",
      },
    },
  },
  hosts: {
    type: 'array',
    doc: 'The hosts and what runs on each. There must be at least one host with each of `lb`, `web`, `app` and `db`; at most two `lb` hosts (one VRRP pair), and only one on loopback. At most one host has the `monitor` role, the host for Prometheus, Alertmanager, the blackbox probe and (by default) the backups; a stack without one is allowed.',
    fields: HOST_FIELDS,
    defaultByHosting: { netns: defaultHostsFor('netns'), loopback: defaultHostsFor('loopback') },
    defaultText: `netns: ${describeHosts(defaultHostsFor('netns'))}; loopback: ${describeHosts(defaultHostsFor('loopback'))}`,
  },
  lb: {
    type: 'object',
    doc: 'The load balancers (HAProxy, and keepalived on netns).',
    fields: {
      balance: {
        type: 'string',
        oneOf: ['roundrobin', 'leastconn', 'source'],
        doc: 'How HAProxy spreads requests over the web servers.',
        default: DEFAULTS.lb.balance,
      },
      mode: {
        type: 'string',
        oneOf: ['active-active', 'active-passive'],
        doc: '`active-active`: every web server takes traffic; `active-passive`: all but the first are `backup`.',
        default: DEFAULTS.lb.mode,
      },
      port: { type: 'number', range: 'port', doc: 'Public HTTP port on the load balancer.', default: DEFAULTS.lb.port },
      maxconn: {
        type: 'number',
        // HAProxy needs about two files per connection; the hard open-files limit here is 20000.
        range: { max: 9000 },
        doc: 'HAProxy `maxconn`: concurrent connections (about two open files each; the hard open-files limit is 20000).',
        default: DEFAULTS.lb.maxconn,
      },
      httpsPort: {
        type: 'number',
        range: 'port',
        doc: 'Public HTTPS port (when TLS is on).',
        default: DEFAULTS.lb.httpsPort,
      },
      preempt: {
        type: 'boolean',
        doc: 'Whether the first LB takes the VIP back when it returns after a failover. Off by default: a VIP that moves back costs a second interruption.',
        default: DEFAULTS.lb.preempt,
      },
      advertIntervalMs: {
        type: 'number',
        doc: 'VRRP advertisement interval in ms (VRRPv3 counts centiseconds): a multiple of 10 from 10 to 40950.',
        check: (v: number) =>
          v < 10 || v > 40950 || v % 10 !== 0
            ? `should be a multiple of 10 from 10 to 40950 (VRRPv3 centiseconds), got ${v}`
            : undefined,
        default: DEFAULTS.lb.advertIntervalMs,
      },
      exposeHostAddresses: {
        type: 'boolean',
        doc: "Also serve the site on each LB's own address, not only the VIP (netns; loopback always does).",
        default: DEFAULTS.lb.exposeHostAddresses,
      },
      rateLimit: {
        type: 'object',
        doc: "A per-client request-rate limit at HAProxy (a stick table keyed by client address): past it, 429 with `Retry-After`. Off unless set, so that a benchmark's single client is not throttled.",
        defaultText: 'off',
        fields: {
          requests: {
            type: 'number',
            range: { max: 1_000_000 },
            doc: 'Requests one client address may make per window. Required when `rateLimit` is set.',
          },
          perSeconds: {
            type: 'number',
            range: { max: 3600 },
            doc: 'The window, in seconds.',
            // Applies only when `rateLimit` is set, so it is stated rather than compared.
            defaultText: `${DEFAULTS.lb.rateLimitPerSeconds}`,
          },
        },
      },
    },
  },
  web: {
    type: 'object',
    doc: 'nginx on each web host.',
    fields: {
      port: { type: 'number', range: 'port', doc: 'nginx listen port on each web host.', default: DEFAULTS.web.port },
      workers: {
        type: 'number',
        range: { max: 64 },
        doc: 'nginx worker processes.',
        default: DEFAULTS.web.workers,
      },
    },
  },
  app: {
    type: 'object',
    doc: 'The Node app on each app host.',
    fields: {
      port: {
        type: 'number',
        range: 'port',
        doc: "The app's listen port on each app host.",
        default: DEFAULTS.app.port,
      },
      adminPort: {
        type: 'number',
        range: 'port',
        doc: "The app's private listener on each app host's address: `/healthz`, `/readyz` and `/metrics`, for the load balancers' checks (through nginx) and the monitor (the firewall admits no one else). The public port serves none of them. Must differ from the other ports a host uses.",
        default: DEFAULTS.app.adminPort,
      },
      codeDir: {
        type: 'string',
        doc: "The site's code base, relative to the config file.",
        defaultText: 'the bundled foobar.com app (src/app)',
      },
      start: {
        type: 'string[]',
        doc: 'argv that starts one app process, run in `codeDir`. The bundled app left at this default runs as prebuilt JavaScript instead (the same code, without the TypeScript loader: see the README).',
        check: (v: string[]) => (v.length === 0 ? 'should name a command to run' : undefined),
        default: DEFAULTS.app.start,
      },
      bodyLimit: {
        type: 'number',
        range: { max: 64 * 1024 * 1024 },
        doc: 'Largest request body the app accepts, in bytes.',
        default: DEFAULTS.app.bodyLimit,
      },
      coalesceReads: {
        type: 'boolean',
        doc: "Request collapsing in the bundled app's database client: identical reads in flight together share one query.",
        default: DEFAULTS.app.coalesceReads,
      },
      build: {
        type: 'string[]',
        doc: 'argv run in each new release (`tandem deploy`) after its dependencies are installed, before it is copied to the hosts: a build step. None by default.',
        check: (v: string[]) => (v.length === 0 ? 'should name a command to run' : undefined),
      },
      keepReleases: {
        type: 'number',
        range: { max: 100 },
        doc: 'Releases each app host keeps (`tandem deploy`); the running and the previous one are always kept.',
        check: (v: number) => (v < 2 ? 'should be at least 2 (the running release and the previous one)' : undefined),
        default: DEFAULTS.app.keepReleases,
      },
      slotOffset: {
        type: 'number',
        range: { max: 10000 },
        doc: 'A deploy starts the new release beside the old one on the other slot: `port` and `adminPort` plus this offset. Those ports must differ from the other ports a host uses.',
        default: DEFAULTS.app.slotOffset,
      },
    },
  },
  database: {
    type: 'object',
    doc: 'MariaDB: a primary and semi-synchronous GTID replicas on the `db` hosts.',
    fields: {
      primary: {
        type: 'string',
        doc: 'Host whose MariaDB starts as the primary; the other `db` hosts are its replicas.',
        default: DEFAULT_PRIMARY,
        defaultText: `\`'${DEFAULT_PRIMARY}'\` with the default hosts; required when \`hosts\` is given`,
      },
      port: { type: 'number', range: 'port', doc: 'MariaDB port on each db host.', default: DEFAULTS.database.port },
      name: {
        type: 'string',
        doc: 'Schema name the app uses.',
        check: pattern(/^[a-z_][a-z0-9_]{0,63}$/, () => 'should be lower-case letters, digits and underscores'),
        default: DEFAULTS.database.name,
      },
      semiSync: {
        type: 'boolean',
        doc: 'Semi-synchronous replication (lossless wait point): a commit returns once a replica has it.',
        default: DEFAULTS.database.semiSync,
      },
      semiSyncTimeoutMs: {
        type: 'number',
        range: { max: Infinity },
        doc: "How long the primary waits for a replica's acknowledgement before it goes on alone (async) until a replica catches up. A replica host that vanishes without a reset (link cut) stalls every write for this long; MariaDB's own default is 10 s.",
        default: DEFAULTS.database.semiSyncTimeoutMs,
      },
      bufferPoolMb: {
        type: 'number',
        range: { max: 65536 },
        doc: 'InnoDB buffer pool per instance, in MiB.',
        default: DEFAULTS.database.bufferPoolMb,
      },
      failover: {
        type: 'boolean',
        doc: 'Automatic failover of the primary: a sentinel beside each database holds a leader key in etcd, fences a primary that loses it and promotes a replica known to hold every acknowledged write. Needs at least two `db` hosts; runs etcd (see `etcd`).',
        defaultText: '`false` (opt-in while its host-death and partition figures miss their goals; see RELIABILITY.md)',
      },
      leaseTtlS: {
        type: 'number',
        range: { max: 10 },
        doc: "The primary's leader lease in etcd, in whole seconds: a primary that cannot renew it fences itself before it expires, and a replica may take over once it has.",
        default: DEFAULTS.database.leaseTtlS,
      },
      reseedRetryS: {
        type: 'number',
        range: { max: 3600 },
        doc: 'With failover: seconds before a failed reseed of a diverged database (it stays read-only and out of service meanwhile) is tried again.',
        default: DEFAULTS.database.reseedRetryS,
      },
    },
  },
  backup: {
    type: 'object',
    doc: 'Backups with `mariadb-backup` (full and incremental, taken from a replica, compressed, encrypted and checksummed, each verified by a restore drill) and continuous binlog archiving, kept on the backup host. A stack with neither a `monitor` host nor `backup.host` is not backed up.',
    fields: {
      host: {
        type: 'string',
        doc: 'The host that keeps backups and the binlog archive. Never a `db` host: losing a server must not lose its backups.',
        defaultText: 'the `monitor` host',
      },
      fullEveryHours: {
        type: 'number',
        range: { max: 24 * 31 },
        doc: 'A full backup every this many hours.',
        default: DEFAULTS.backup.fullEveryHours,
      },
      incrementalEveryMinutes: {
        type: 'number',
        range: { max: 24 * 60 },
        doc: 'An incremental backup every this many minutes, on the last full one.',
        default: DEFAULTS.backup.incrementalEveryMinutes,
      },
      keepFull: {
        type: 'number',
        range: { max: 1000 },
        doc: 'Full backups kept, each with its incrementals; older ones are deleted once a newer full backup is verified.',
        default: DEFAULTS.backup.keepFull,
      },
    },
  },
  etcd: {
    type: 'object',
    doc: "etcd, the consensus store of database failover, with peer and client TLS from tandem's CA. It runs only when `database.failover` is on.",
    fields: {
      hosts: {
        type: 'string[]',
        doc: 'The hosts that run an etcd member: an odd number of distinct hosts of `hosts`, so that a majority survives the loss of any one.',
        defaultText: `${DEFAULTS.etcd.members} hosts (all of them when there are fewer): the \`db\` hosts first, then \`app\`/\`web\` hosts, then load balancers, each in config order`,
      },
      clientPort: {
        type: 'number',
        range: 'port',
        doc: "Each member's client port (the sentinels and tandem).",
        default: DEFAULTS.etcd.clientPort,
      },
      peerPort: {
        type: 'number',
        range: 'port',
        doc: "Each member's peer (raft) port, open only between members.",
        default: DEFAULTS.etcd.peerPort,
      },
    },
  },
  tls: {
    type: 'object',
    doc: 'HTTPS at the load balancer.',
    fields: {
      enabled: {
        type: 'boolean',
        doc: 'HTTPS at the load balancer; port 80 answers 308 to https. The certificate comes from a local CA tandem makes, unless `cert` and `key` are given.',
        defaultByHosting: { netns: true, loopback: false },
      },
      cert: {
        type: 'string',
        doc: "Your own certificate (PEM file, relative to the config file) instead of one from tandem's CA. Needs `key`.",
      },
      key: { type: 'string', doc: 'The key of `cert` (PEM file). Needs `cert`.' },
    },
  },
  firewall: {
    type: 'object',
    doc: "Each netns host's default-drop nftables ruleset.",
    netnsOnly: true,
    fields: {
      sshFrom: {
        type: 'string[]',
        doc: 'Addresses or subnets allowed to reach SSH (22) on every host.',
        defaultByHosting: { netns: DEFAULTS.firewall.sshFrom },
      },
    },
  },
};
