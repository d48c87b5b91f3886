/**
 * The recorded history of a chaos run: every operation, fault, heal and sample, with
 * epoch-ms timestamps. Written as JSON lines (one record per line) to
 * `<stateDir>/chaos/<scenario>-<timestamp>.jsonl`.
 */
import fs from 'node:fs';
import path from 'node:path';

export type OpKind = 'page' | 'api' | 'write' | 'read-own';

export const OP_KINDS: readonly OpKind[] = ['page', 'api', 'write', 'read-own'];

/**
 * ok: the expected answer within the scenario's latency bound. slow: the expected answer,
 * later than that bound (a failed request for the user; a slow write is still
 * acknowledged). fail: an HTTP error status. timeout / error: no answer (timed out,
 * connection refused or reset). For a write, fail, timeout and error leave it
 * indeterminate: it may or may not have been applied.
 */
export type Outcome = 'ok' | 'slow' | 'fail' | 'timeout' | 'error';

export interface Op {
  readonly kind: OpKind;
  /** Post id, for writes and read-own. */
  readonly id?: string;
  /** Epoch ms. */
  readonly start: number;
  readonly end: number;
  readonly outcome: Outcome;
  readonly status?: number;
  readonly error?: string;
  /** x-served-by of the answer. */
  readonly server?: string;
  /** x-release of the answer: the release that answered (`tandem deploy`). */
  readonly release?: string;
  /** 2 when a write was retried with the same id after its first try failed. */
  readonly attempts?: number;
  /** What went wrong with the first try of a retried write. */
  readonly firstFailure?: string;
}

export interface FaultEvent {
  readonly id: string;
  readonly kind: string;
  readonly target: string;
  readonly at: number;
  readonly pids: readonly number[];
  /** The hosts the target named at that moment (`lb:active` → `lb-1`). */
  readonly hosts?: readonly string[];
  /** What the fault did, in one line. */
  readonly detail?: string;
}

export interface HealEvent {
  readonly faultId: string;
  readonly at: number;
  readonly doneAt: number;
  readonly detail: string;
}

/**
 * One sighting of one database: up (answered) and read_only. The answer held at some
 * instant between the query's start (`at`) and its end, not at a known one.
 */
export interface DbSample {
  /** Epoch ms when the query started. */
  readonly at: number;
  /** Epoch ms when its answer (or its failure) came back. */
  readonly end: number;
  readonly host: string;
  readonly up: boolean;
  readonly readOnly?: boolean;
}

/** One sample of the load balancer's view of one server. */
export interface LbSample {
  readonly at: number;
  readonly lb: string;
  readonly server: string;
  readonly status: string;
}

/** netns: which load balancer held the floating IP (null: none could be seen holding it). */
export interface VipSample {
  readonly at: number;
  readonly holder: string | null;
}

/** One database node after healing: every post this run wrote (matched by its body marker). */
export interface NodeState {
  readonly host: string;
  readonly posts: readonly { readonly uid: string; readonly body: string }[];
  /** Set when this node could not be read: what it holds is unknown. */
  readonly error?: string;
  /** A replica that had not applied the primary's last transaction when it was read. */
  readonly behind?: boolean;
  /** `@@gtid_current_pos`: where this node's history ends. */
  readonly gtid?: string;
  /** `CHECKSUM TABLE` of each of the app's tables. */
  readonly checksums?: Readonly<Record<string, string>>;
  readonly readOnly?: boolean;
  /** Not the primary: both replication threads running. */
  readonly replicating?: boolean;
}

/** Every database node after healing (the writable one first). */
export interface FinalState {
  readonly readAt: number;
  readonly nodes: readonly NodeState[];
}

export interface History {
  readonly scenario: string;
  readonly runId: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ops: readonly Op[];
  readonly faults: readonly FaultEvent[];
  readonly heals: readonly HealEvent[];
  readonly dbSamples: readonly DbSample[];
  readonly lbSamples: readonly LbSample[];
  /** netns: the VIP's holder over time (absent on loopback hosting). */
  readonly vipSamples?: readonly VipSample[];
  /** Every database host the samplers watched: each must have answered a sighting. */
  readonly dbHosts: readonly string[];
  /** A successful request slower than this (ms) counted as failed ('slow'). */
  readonly latencyBoundMs?: number;
  readonly final?: FinalState;
  /** Database failover: why a sentinel did not promote its database, as the load ended. */
  readonly sentinelNotes?: readonly { readonly host: string; readonly notPromoted: string }[];
}

/** The body a write carries: finds it again in the final state, also under another uid. */
export function writeBody(runId: string, id: string): string {
  return `chaos ${runId} ${id}`;
}

/** The post id a body marker names, or undefined for a post not written by this run. */
export function idOfBody(runId: string, body: string): string | undefined {
  const prefix = `chaos ${runId} `;
  return body.startsWith(prefix) ? body.slice(prefix.length) : undefined;
}

/** JSON lines, one record per line, each with its `type`. */
export function historyLines(h: History, result?: unknown): string {
  const lines: unknown[] = [
    { type: 'run', scenario: h.scenario, runId: h.runId, startedAt: h.startedAt, endedAt: h.endedAt },
    ...h.faults.map((f) => ({ type: 'fault', ...f })),
    ...h.heals.map((x) => ({ type: 'heal', ...x })),
    ...h.ops.map((o) => ({ type: 'op', ...o })),
    ...h.dbSamples.map((s) => ({ type: 'db', ...s })),
    ...h.lbSamples.map((s) => ({ type: 'lb', ...s })),
    ...(h.vipSamples ?? []).map((s) => ({ type: 'vip', ...s })),
  ];
  for (const note of h.sentinelNotes ?? []) lines.push({ type: 'sentinel', ...note });
  if (h.final) lines.push({ type: 'final', ...h.final });
  if (result !== undefined) lines.push({ type: 'result', ...(result as object) });
  return `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
}

export function writeHistory(dir: string, h: History, result?: unknown): string {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date(h.startedAt).toISOString().replace(/[:.]/g, '-');
  const file = path.join(dir, `${h.scenario}-${stamp}.jsonl`);
  fs.writeFileSync(file, historyLines(h, result));
  return file;
}
