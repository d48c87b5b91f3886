/** `status`: every host and service, the load balancer's view, and the databases. */
import type { Plan } from '../config/types.ts';
import { type LivenessRestarts, readSupervisor } from '../hosts/supervise.ts';
import { type DbPosition, dbPositions } from './database.ts';
import { type BackendServerState, backendStates, vipHolder } from './lb.ts';
import { isReady, unitOf } from './services.ts';

export interface ServiceStatus {
  readonly id: string;
  readonly kind: string;
  readonly address: string;
  readonly port: number;
  /** running (and answering), starting, backoff (crashed, restarting), stopped */
  readonly state: 'running' | 'unready' | 'backoff' | 'stopped';
  readonly pid: number | null;
  readonly restarts: number;
  /** Of `restarts`, those its supervisor made because it ran but answered nothing (hung). */
  readonly livenessRestarts: LivenessRestarts | null;
}

export interface StackStatus {
  readonly name: string;
  readonly url: string;
  readonly hosting: string;
  readonly hosts: readonly {
    readonly name: string;
    readonly address: string;
    readonly roles: readonly string[];
    readonly services: readonly ServiceStatus[];
  }[];
  readonly lb: {
    readonly backends: readonly BackendServerState[];
    /** netns: the floating IP and the LB holding it (null: nobody — the site is down). */
    readonly vip: { readonly address: string; readonly holder: string | null } | null;
  };
  readonly db: {
    readonly primary: string;
    readonly replication: { readonly running: boolean; readonly lagTransactions: number | null };
    readonly instances: readonly DbPosition[];
  };
}

export async function status(plan: Plan): Promise<StackStatus> {
  const services = await Promise.all(
    plan.services.map(async (svc): Promise<ServiceStatus> => {
      const unit = unitOf(plan, svc);
      const sup = readSupervisor(unit.paths);
      let state: ServiceStatus['state'] = 'stopped';
      if (sup?.state === 'backoff') state = 'backoff';
      else if (sup) state = (await isReady(plan, unit).catch(() => false)) ? 'running' : 'unready';
      return {
        id: svc.id,
        kind: svc.kind,
        address: svc.address,
        port: svc.port,
        state,
        pid: sup?.pid ?? null,
        restarts: sup?.restarts ?? 0,
        livenessRestarts: sup?.liveness ?? null,
      };
    }),
  );
  const backends = await backendStates(plan).catch(() => []);
  const instances = await dbPositions(plan);
  const replicas = instances.filter((i) => i.role === 'replica');
  const lags = replicas.map((r) => r.lagTransactions).filter((n): n is number => n !== undefined);
  return {
    name: plan.name,
    url: plan.url,
    hosting: plan.hosting,
    hosts: [...plan.hosts, ...(plan.client ? [plan.client] : [])].map((h) => ({
      name: h.name,
      address: h.address,
      roles: h.roles,
      services: services.filter((s) => s.id.startsWith(`${h.name}/`)),
    })),
    lb: { backends, vip: plan.lb.vip ? { address: plan.lb.vip, holder: (await vipHolder(plan)) ?? null } : null },
    db: {
      primary: plan.db.primary,
      replication: {
        running: replicas.length > 0 && replicas.every((r) => r.replication?.ioRunning && r.replication.sqlRunning),
        lagTransactions: lags.length === replicas.length && lags.length > 0 ? Math.max(...lags) : null,
      },
      instances,
    },
  };
}
