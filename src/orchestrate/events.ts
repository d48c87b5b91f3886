/**
 * Progress is typed events (like zx's log.ts): orchestration emits them, the CLI
 * and the dashboard render them, tests collect them.
 */
export type StackEvent =
  | { kind: 'step'; step: string; status: 'start' }
  | { kind: 'step'; step: string; status: 'done'; changed: boolean; detail?: string; ms: number }
  | { kind: 'step'; step: string; status: 'failed'; error: string; ms: number }
  | { kind: 'note'; message: string };

export type Emit = (event: StackEvent) => void;

export const silent: Emit = () => {};

/** What a step's function returns: whether it changed anything, and an optional detail. */
export type StepResult = { changed: boolean; detail?: string } | boolean;

/**
 * Runs one named step, timing it and reporting start/done/failed.
 * The step's function returns whether it changed anything, and an optional detail.
 */
export async function step(emit: Emit, name: string, fn: () => Promise<StepResult>): Promise<boolean> {
  const started = performance.now();
  emit({ kind: 'step', step: name, status: 'start' });
  try {
    const result = await fn();
    const { changed, detail } = typeof result === 'boolean' ? { changed: result, detail: undefined } : result;
    emit({ kind: 'step', step: name, status: 'done', changed, detail, ms: Math.round(performance.now() - started) });
    return changed;
  } catch (err) {
    emit({
      kind: 'step',
      step: name,
      status: 'failed',
      error: (err as Error).message,
      ms: Math.round(performance.now() - started),
    });
    throw err;
  }
}
