/**
 * Network faults as data (pure): the nftables ruleset that partitions a host from a set
 * of addresses, and the `tc` argv that slows a link. src/hosts/network-command.ts runs them
 * inside the host's namespace.
 *
 * The partition lives in its own table (`inet tandem_chaos`), so tandem's firewall
 * table is never touched and healing is one `delete table`. Its chains hook input AND
 * output at priority -10, before tandem's `priority filter` chain with its `ct state
 * established accept`: every packet is dropped, so connections already open (HAProxy's
 * reused server connections, the app's pooled database connections, replication) are
 * cut as well as new ones.
 *
 * The slow link is `tbf` (token bucket): this kernel has no `netem`, so added delay,
 * jitter and loss cannot be injected; a rate limit can. It is put on both ends of the
 * host's veth (eth0 in the namespace: what the host sends; the root end: what it receives).
 */

export const CHAOS_TABLE = 'tandem_chaos';
export const CHAOS_FAMILY = 'inet';

const NFT = '/usr/sbin/nft';
const TC = '/usr/sbin/tc';

/**
 * The ruleset that cuts one host off from `addresses` (loading it twice leaves one copy).
 * With `ports`, only TCP to or from those ports is dropped (e.g. etcd's peer port: a
 * member cut off from the others while everything else on its host still talks).
 */
export function renderPartition(
  hostName: string,
  addresses: readonly string[],
  label: string,
  ports: readonly number[] = [],
): string {
  if (addresses.length === 0) throw new Error(`a partition of ${hostName} needs addresses on the other side`);
  const set = addresses.length === 1 ? addresses[0]! : `{ ${[...addresses].sort().join(', ')} }`;
  const portSet = ports.length === 1 ? String(ports[0]) : `{ ${[...ports].sort((a, b) => a - b).join(', ')} }`;
  const rules = (dir: 'saddr' | 'daddr', comment: string) =>
    (ports.length === 0 ? [''] : [` tcp dport ${portSet}`, ` tcp sport ${portSet}`]).map(
      (match) => `        ip ${dir} ${set}${match} drop comment ${JSON.stringify(comment)}`,
    );
  return [
    `# tandem chaos: ${label}, on ${hostName}`,
    `table ${CHAOS_FAMILY} ${CHAOS_TABLE}`,
    `delete table ${CHAOS_FAMILY} ${CHAOS_TABLE}`,
    '',
    `table ${CHAOS_FAMILY} ${CHAOS_TABLE} {`,
    '    chain input {',
    '        type filter hook input priority -10; policy accept;',
    ...rules('saddr', 'partition: nothing from the other side'),
    '    }',
    '',
    '    chain output {',
    '        type filter hook output priority -10; policy accept;',
    ...rules('daddr', 'partition: nothing to the other side'),
    '    }',
    '}',
    '',
  ].join('\n');
}

/** `nft` argv that loads a ruleset from standard input. */
export const nftLoadCommand = (): string[] => [NFT, '--file', '-'];
/** `nft` argv that removes the chaos table (fails when there is none). */
export const nftDeleteCommand = (): string[] => [NFT, 'delete', 'table', CHAOS_FAMILY, CHAOS_TABLE];
/** `nft` argv that lists the chaos table (fails when there is none). */
export const nftListCommand = (): string[] => [NFT, 'list', 'table', CHAOS_FAMILY, CHAOS_TABLE];

export interface LinkRate {
  /** tc rate, e.g. `1mbit`. */
  readonly rate: string;
  /** Bucket size, e.g. `16kb`: at least rate/HZ, or tbf refuses it. */
  readonly burst: string;
  /** Longest a packet may wait in the queue; later ones are dropped (TCP resends them). */
  readonly latency: string;
}

/** A tc rate: digits, optional decimals, a unit tc knows. */
const RATE = /^\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/;

export function isRate(text: string): boolean {
  return RATE.test(text);
}

/** argv that slows `dev` to `r` (replace: applying it twice leaves one qdisc). */
export const tbfCommand = (dev: string, r: LinkRate): string[] => [
  TC,
  'qdisc',
  'replace',
  'dev',
  dev,
  'root',
  'tbf',
  'rate',
  r.rate,
  'burst',
  r.burst,
  'latency',
  r.latency,
];

/** argv that removes the root qdisc of `dev` (back to the default; fails when there is none). */
export const qdiscDeleteCommand = (dev: string): string[] => [TC, 'qdisc', 'del', 'dev', dev, 'root'];

/** argv that shows the root qdisc of `dev`. */
export const qdiscShowCommand = (dev: string): string[] => [TC, 'qdisc', 'show', 'dev', dev, 'root'];
