/**
 * Finding the primary: every node is asked `@@global.read_only` (in parallel, each within
 * a short deadline, one round at a time shared by every caller) at start, when a write
 * fails on the primary, and periodically in the background. The only writable node is
 * the primary (primary-choice.ts); until a round finds one, writes wait within a bound.
 */
import type { DbNode } from './connections.ts';
import { DbClosedError, DbTwoWritableError, DbUnavailableError } from './errors.ts';
import { healthQuery } from './health.ts';
import { choosePrimary, type NodeProbe, type PrimaryChoice, readOnlyAnswer } from './primary-choice.ts';
import type { DbEvent } from './types.ts';

export interface PrimaryFinderOptions<N> {
  /** One node's answer in a probe round (`probeReadOnly`); never rejects. */
  probe: (node: N) => Promise<NodeProbe>;
  /** Background probe period; 0: only at start and on failed writes. */
  intervalMs: number;
  emit: (event: DbEvent) => void;
  /** A different node was found writable; called before any write goes to it. */
  onPrimary: (node: N) => void;
}

/**
 * Delay before the next probe while no primary is known: 25 ms doubling to 100 ms. A
 * round costs one query per node, and the sooner a round sees the new primary the
 * shorter the write pause.
 */
export function probeDelayMs(attempt: number): number {
  return Math.min(100, 25 * 2 ** attempt);
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Asks one node `@@global.read_only` on its health connections, within `timeoutMs`. */
export async function probeReadOnly(node: DbNode, timeoutMs: number): Promise<NodeProbe> {
  try {
    const [row] = await healthQuery(node.writer, timeoutMs, 'SELECT @@global.read_only AS ro');
    const readOnly = readOnlyAnswer(row?.ro);
    if (readOnly === undefined) return { server: node.name, error: `unexpected read_only ${JSON.stringify(row?.ro)}` };
    return { server: node.name, readOnly };
  } catch (err) {
    return { server: node.name, error: messageOf(err) };
  }
}

export class PrimaryFinder<N extends { readonly name: string } = DbNode> {
  /** The last round's verdict. */
  choice: PrimaryChoice = { kind: 'unknown', reason: 'no writable primary (not probed yet)' };
  /** The last round's answers, node by node. */
  probes: readonly NodeProbe[] = [];
  private primary: string | undefined;
  private probed = false;
  private round: Promise<PrimaryChoice> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly nodes: readonly N[],
    private readonly options: PrimaryFinderOptions<N>,
  ) {
    void this.refresh();
    if (options.intervalMs > 0) {
      this.timer = setInterval(() => void this.refresh(), options.intervalMs);
      this.timer.unref();
    }
  }

  /** One probe round over every node; a caller arriving during a round shares it. */
  refresh(): Promise<PrimaryChoice> {
    this.round ??= this.probeAll().finally(() => (this.round = undefined));
    return this.round;
  }

  /**
   * The primary's node, probing with back-off while none (or more than one) is writable,
   * until `deadline`; then DbUnavailableError (none) or DbTwoWritableError.
   */
  async writable(deadline: number): Promise<N> {
    if (!this.probed) await this.refresh();
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new DbClosedError();
      const choice = this.choice;
      if (choice.kind === 'found') return this.node(choice.server);
      const wait = Math.min(probeDelayMs(attempt), deadline - Date.now());
      if (wait <= 0) {
        if (choice.kind === 'two-writable') throw new DbTwoWritableError(choice.servers);
        throw new DbUnavailableError(`database: ${choice.reason}`);
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      await this.refresh();
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  private node(name: string): N {
    return this.nodes.find((n) => n.name === name)!;
  }

  private async probeAll(): Promise<PrimaryChoice> {
    const probes = await Promise.all(this.nodes.map((node) => this.options.probe(node)));
    if (this.closed) return this.choice;
    this.probes = probes;
    this.adopt(choosePrimary(probes));
    this.probed = true;
    return this.choice;
  }

  /** Takes a round's verdict; emits when it changes the state. */
  private adopt(choice: PrimaryChoice): void {
    const before = this.choice;
    this.choice = choice;
    const { emit } = this.options;
    if (choice.kind === 'found') {
      const previous = this.primary;
      if (choice.server !== previous) {
        this.primary = choice.server;
        this.options.onPrimary(this.node(choice.server));
      }
      if (choice.server !== previous || before.kind !== 'found') {
        emit({ kind: 'primary-found', server: choice.server, previous });
      }
    } else if (choice.kind === 'two-writable') {
      if (before.kind !== 'two-writable' || before.servers.join() !== choice.servers.join()) {
        emit({ kind: 'primary-conflict', servers: [...choice.servers] });
      }
    } else if (before.kind !== 'unknown' || !this.probed) {
      emit({ kind: 'primary-unknown', previous: this.primary, reason: choice.reason });
    }
  }
}
