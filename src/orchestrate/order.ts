/** Dependency order of services (like cdk8s dependency.ts): a cycle is an error naming its route. */
import type { PlanService } from '../config/types.ts';

export function startOrder(services: readonly PlanService[]): PlanService[] {
  const byId = new Map(services.map((s) => [s.id, s]));
  const done = new Set<string>();
  const out: PlanService[] = [];
  const visit = (s: PlanService, route: string[]) => {
    if (done.has(s.id)) return;
    if (route.includes(s.id)) throw new Error(`dependency cycle: ${[...route, s.id].join(' → ')}`);
    for (const dep of s.after) {
      const d = byId.get(dep);
      if (!d) throw new Error(`${s.id} starts after ${dep}, which is not in the plan`);
      visit(d, [...route, s.id]);
    }
    done.add(s.id);
    out.push(s);
  };
  for (const s of services) visit(s, []);
  return out;
}
