/**
 * Finding the primary: every node is asked `@@global.read_only` (in parallel, each within
 * a short deadline, one round at a time shared by every caller) at start, when a write
 * fails on the primary, and periodically in the background. The only writable node is
 * the primary (primary-choice.ts); until a round finds one, writes wait within a bound.
 *
 * A round waits only for the nodes that answered last time: a dead or cut-off host
 * would hold every round for the whole probe timeout, and with it the writes waiting
 * for the new primary. A silent node is still asked (one probe in flight at a time);
 * its answer, whenever it comes, counts from then on, so a node that comes back
 * writable is seen (two writable: writes wait) as soon as it answers.
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
  /** The verdict over every node's latest answer. */
  choice: PrimaryChoice = { kind: 'unknown', reason: 'no writable primary (not probed yet)' };
  /** Every node's latest answer, in the nodes' order. */
  probes: readonly NodeProbe[] = [];
  private primary: string | undefined;
  private probed = false;
  private round: Promise<PrimaryChoice> | undefined;
  private readonly latest = new Map<string, NodeProbe>();
  private readonly inFlight = new Map<string, Promise<void>>();
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

  /**
   * One probe round over every node, waiting for those that answered last time (all of
   * them when none did); a caller arriving during a round shares it.
   */
  refresh(): Promise<PrimaryChoice> {
    this.round ??= this.probeRound().finally(() => (this.round = undefined));
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

  private async probeRound(): Promise<PrimaryChoice> {
    const asked = this.nodes.map((node) => ({ node, answered: this.probeNode(node) }));
    const awaited = asked.filter(({ node }) => {
      const last = this.latest.get(node.name);
      return last !== undefined && !('error' in last);
    });
    await Promise.all((awaited.length > 0 ? awaited : asked).map((a) => a.answered));
    if (this.closed) return this.choice;
    this.settle();
    this.probed = true;
    return this.choice;
  }

  /** Asks one node, unless it is still being asked; its answer replaces its latest. */
  private probeNode(node: N): Promise<void> {
    let answered = this.inFlight.get(node.name);
    if (answered === undefined) {
      answered = this.options.probe(node).then((answer) => {
        this.inFlight.delete(node.name);
        if (this.closed) return;
        this.latest.set(node.name, answer);
        // A late answer (from a node the round did not wait for) counts at once; during
        // a round, its end takes every answer together.
        if (this.probed && this.round === undefined) this.settle();
      });
      this.inFlight.set(node.name, answered);
    }
    return answered;
  }

  /** Takes the verdict over every node's latest answer. */
  private settle(): void {
    this.probes = this.nodes.flatMap((n) => this.latest.get(n.name) ?? []);
    this.adopt(choosePrimary(this.probes));
  }

  /** Takes a verdict; emits when it changes the state. */
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
