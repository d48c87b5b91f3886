/**
 * Dependency order (like cdk8s dependency.ts): a topological sort where a cycle is an
 * error naming its route, and a runner that starts each step as soon as every step it
 * comes after is done, so independent steps run side by side.
 */
import type { PlanService } from '../config/types.ts';
import { type Emit, step, type StepResult } from './events.ts';

/** Items in an order where each comes after everything it names; throws on a cycle or an unknown name. */
export function dependencyOrder<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  after: (item: T) => readonly string[],
): T[] {
  const byName = new Map<string, T>();
  for (const item of items) {
    const name = nameOf(item);
    // Two steps of one name: one would run, the other be lost without a word.
    if (byName.has(name)) throw new Error(`two steps are named ${name}`);
    byName.set(name, item);
  }
  const done = new Set<string>();
  const out: T[] = [];
  const visit = (item: T, route: string[]) => {
    const name = nameOf(item);
    if (done.has(name)) return;
    if (route.includes(name)) throw new Error(`dependency cycle: ${[...route, name].join(' → ')}`);
    for (const dep of after(item)) {
      const d = byName.get(dep);
      if (d === undefined) throw new Error(`${name} starts after ${dep}, which is not in the plan`);
      visit(d, [...route, name]);
    }
    done.add(name);
    out.push(item);
  };
  for (const item of items) visit(item, []);
  return out;
}

export function startOrder(services: readonly PlanService[]): PlanService[] {
  return dependencyOrder(
    services,
    (s) => s.id,
    (s) => s.after,
  );
}

/** One named step of a run: it starts once every step in `after` is done. */
export interface Step {
  readonly name: string;
  readonly after: readonly string[];
  readonly run: () => Promise<StepResult>;
}

/** Why a step did not run: a step it comes after failed, or another step failed first. */
class NotRun extends Error {}

/**
 * Runs the steps, each as soon as the steps it comes after are done. After a failure
 * no further step starts; the steps under way finish (and report), then the first
 * failure is thrown. So every step reported done is in place, and no other is.
 * Returns true when any step changed something.
 */
export async function runSteps(emit: Emit, steps: readonly Step[]): Promise<boolean> {
  const running = new Map<string, Promise<boolean>>();
  let failure: unknown;
  for (const s of dependencyOrder(
    steps,
    (x) => x.name,
    (x) => x.after,
  )) {
    running.set(
      s.name,
      (async () => {
        await Promise.all(s.after.map((dep) => running.get(dep)));
        if (failure !== undefined) throw new NotRun(s.name);
        try {
          return await step(emit, s.name, s.run);
        } catch (err) {
          failure ??= err;
          throw err;
        }
      })(),
    );
  }
  const results = await Promise.allSettled(running.values());
  if (failure !== undefined) throw failure;
  return results.some((r) => r.status === 'fulfilled' && r.value);
}
