/**
 * The nodes' current roles as the client acts on them: one primary (writes, fresh reads)
 * and the others as read replicas with their health checks. A failover promotes another
 * node: the replicas are then re-checked against the new primary before serving reads.
 */
import type { DbNode, Server } from './connections.ts';
import { checkHealth, HealthChecks } from './health.ts';
import { ReplicaSet } from './replica-set.ts';
import type { DbEvent } from './types.ts';

export interface RolesOptions {
  healthTimeoutMs: number;
  maxLagMs: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  emit: (event: DbEvent) => void;
}

export class Roles {
  primary: DbNode;
  replicas: ReplicaSet<Server>;
  checks: HealthChecks;

  /** `replicas`: the initial guess's replicas (by default every other node). */
  constructor(
    readonly nodes: readonly DbNode[],
    primary: DbNode,
    replicas: readonly DbNode[],
    private readonly options: RolesOptions,
  ) {
    this.primary = primary;
    this.checks = this.checksOf(primary);
    this.replicas = this.replicaSet(replicas);
  }

  /**
   * Makes `node` the primary and every other node a replica. The replicas start out of the
   * rotation and come back once a check against the new primary passes (at once when it
   * does): the former primary may not replicate yet, and another replica may still follow it.
   */
  promote(node: DbNode): void {
    if (node === this.primary) return;
    this.replicas.close();
    this.primary = node;
    this.checks = this.checksOf(node);
    this.replicas = this.replicaSet(this.nodes.filter((n) => n !== node));
    for (const replica of this.replicas.replicas) {
      this.replicas.eject(replica, new Error(`not yet checked against the new primary ${node.name}`));
    }
    void checkHealth(this.checks, this.replicas).catch(() => {});
  }

  close(): void {
    this.replicas.close();
  }

  private checksOf(node: DbNode): HealthChecks {
    return new HealthChecks(node.writer, { timeoutMs: this.options.healthTimeoutMs, maxLagMs: this.options.maxLagMs });
  }

  private replicaSet(nodes: readonly DbNode[]): ReplicaSet<Server> {
    const { checks, options } = this;
    return new ReplicaSet<Server>(
      nodes.map((n) => n.reader),
      {
        minBackoffMs: options.minBackoffMs,
        maxBackoffMs: options.maxBackoffMs,
        probe: (server) => checks.probeReplica(server),
        emit: options.emit,
      },
    );
  }
}
