/**
 * Reading an archived binlog file's GTIDs without running anything: MariaDB's binlog is
 * a 4-byte magic, then events with a 19-byte header (timestamp, type, server id, length,
 * next position, flags). The archiver scans each file as `mariadb-binlog --raw` appends
 * to it, from where the last scan stopped, and keeps what a restore needs to pick files:
 * the GTID state at the file's start (its Gtid_list event), its first and last complete
 * transactions and their times. A partial event at the end waits for the next scan.
 */

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
const HEADER_BYTES = 19;
const QUERY_EVENT = 2;
const ROTATE_EVENT = 4;
const FORMAT_DESCRIPTION_EVENT = 15;
const XID_EVENT = 16;
const GTID_EVENT = 162;
const GTID_LIST_EVENT = 163;
/** Gtid event flag: the transaction is one statement with no COMMIT (DDL). */
const FL_STANDALONE = 1;

/** One GTID: `domain-server-seq`. */
export interface Gtid {
  readonly domain: number;
  readonly server: number;
  readonly seq: bigint;
}

export const formatGtid = (g: Gtid): string => `${g.domain}-${g.server}-${g.seq}`;

/** What a scan learnt of one file so far; scanning more bytes continues from `offset`. */
export interface BinlogScan {
  /** Bytes of whole events read (the next event starts here). */
  readonly offset: number;
  /** The GTID state at the file's start (its Gtid_list event): `0-1-10,1-2-3`, '' when empty; undefined: not seen yet. */
  readonly gtidList?: string;
  /** The first and last transactions whose commit is in the file, and their event times (unix seconds). */
  readonly firstGtid?: string;
  readonly lastGtid?: string;
  readonly firstTime?: number;
  readonly lastTime?: number;
  /** The GTIDs committed in the bytes this scan read, in order (hole detection checks each). */
  readonly gtids: readonly string[];
  /** The file ends with a Rotate event: the server moved to its next file. */
  readonly rotated: boolean;
  /**
   * Where the last complete transaction ends: in this file (`offset`) and on the server
   * (`serverPos`, from the event header's next-position field). A stream restarted at
   * `serverPos` continues with the next transaction.
   */
  readonly committed?: { readonly offset: number; readonly serverPos: number };
  /** The server position of the first event after the format description (4 for a whole file). */
  readonly startPos?: number;
  /** A transaction whose Gtid event was read and whose commit was not yet. */
  readonly open?: { readonly gtid: string; readonly standalone: boolean };
}

export const EMPTY_SCAN: BinlogScan = { offset: 0, gtids: [], rotated: false };

/** Not a binlog file (its first four bytes), or an event that cannot be. */
export class BinlogFormatError extends Error {}

/** `0-1-10,0-2-11` from a Gtid_list event body. */
function gtidListOf(body: Buffer): string {
  const count = body.readUInt32LE(0) & 0x0fffffff;
  const out: string[] = [];
  for (let i = 0; i < count && 4 + 16 * (i + 1) <= body.length; i++) {
    const at = 4 + 16 * i;
    out.push(
      formatGtid({
        domain: body.readUInt32LE(at),
        server: body.readUInt32LE(at + 4),
        seq: body.readBigUInt64LE(at + 8),
      }),
    );
  }
  return out.join(',');
}

/**
 * Scans the whole events in `chunk`, the file's bytes from `prev.offset` on (the whole
 * file for a first scan). Pure.
 */
export function scanBinlog(chunk: Buffer, prev: BinlogScan = EMPTY_SCAN): BinlogScan {
  const base = prev.offset;
  let offset = 0;
  if (base === 0) {
    if (chunk.length < MAGIC.length) return { ...prev, gtids: [] };
    if (!chunk.subarray(0, MAGIC.length).equals(MAGIC)) throw new BinlogFormatError('not a binlog file (bad magic)');
    offset = MAGIC.length;
  }
  const buf = chunk;
  let { gtidList, firstGtid, lastGtid, firstTime, lastTime, open, rotated, committed, startPos } = prev;
  let eventEnd = { offset: 0, serverPos: 0 };
  const gtids: string[] = [];
  const commit = (time: number) => {
    if (!open) return;
    firstGtid ??= open.gtid;
    firstTime ??= time;
    lastGtid = open.gtid;
    lastTime = time;
    gtids.push(open.gtid);
    open = undefined;
    committed = eventEnd;
  };
  while (offset + HEADER_BYTES <= buf.length) {
    const time = buf.readUInt32LE(offset);
    const type = buf[offset + 4]!;
    const server = buf.readUInt32LE(offset + 5);
    const length = buf.readUInt32LE(offset + 9);
    if (length < HEADER_BYTES) throw new BinlogFormatError(`an event of ${length} bytes at ${base + offset}`);
    if (offset + length > buf.length) break;
    const body = buf.subarray(offset + HEADER_BYTES, offset + length);
    const nextPos = buf.readUInt32LE(offset + 13);
    eventEnd = { offset: base + offset + length, serverPos: nextPos };
    // A whole file has its Gtid_list right after the format description; a stream started
    // further on (a sealed segment's successor) has its first transaction there.
    if (startPos === undefined && type !== FORMAT_DESCRIPTION_EVENT && nextPos > 0)
      startPos = type === GTID_LIST_EVENT ? MAGIC.length : nextPos - length;
    rotated = type === ROTATE_EVENT;
    if (type === GTID_LIST_EVENT) gtidList ??= gtidListOf(body);
    else if (type === GTID_EVENT) {
      const gtid = formatGtid({ domain: body.readUInt32LE(8), server, seq: body.readBigUInt64LE(0) });
      open = { gtid, standalone: (body[12]! & FL_STANDALONE) !== 0 };
    } else if (type === XID_EVENT) commit(time);
    else if (type === QUERY_EVENT && open) {
      // The statement ends the body (before a 4-byte checksum, if any): COMMIT ends a
      // non-transactional engine's transaction; a standalone one (DDL) is its own commit.
      const tail = body.subarray(Math.max(0, body.length - 10)).toString('latin1');
      if (open.standalone || tail.includes('COMMIT')) commit(time);
    }
    offset += length;
  }
  return {
    offset: base + offset,
    gtids,
    rotated,
    ...(gtidList !== undefined ? { gtidList } : {}),
    ...(firstGtid !== undefined ? { firstGtid, firstTime, lastGtid, lastTime } : {}),
    ...(open ? { open } : {}),
    ...(committed ? { committed } : {}),
    ...(startPos !== undefined ? { startPos } : {}),
  };
}
