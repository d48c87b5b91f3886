/**
 * The active faults, kept in `<stateDir>/chaos/active.json` so that `tandem chaos heal`
 * (another process) can undo what a run or a hands-on command injected.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Plan } from '../config/types.ts';
import type { ActiveFault } from './model.ts';

export function chaosDir(plan: Plan): string {
  return path.join(plan.stateDir, 'chaos');
}

function activeFile(plan: Plan): string {
  return path.join(chaosDir(plan), 'active.json');
}

export function readActive(plan: Plan): ActiveFault[] {
  try {
    return JSON.parse(fs.readFileSync(activeFile(plan), 'utf8')) as ActiveFault[];
  } catch {
    return [];
  }
}

export function writeActive(plan: Plan, faults: readonly ActiveFault[]): void {
  fs.mkdirSync(chaosDir(plan), { recursive: true });
  const tmp = `${activeFile(plan)}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(faults, null, 2)}\n`);
  fs.renameSync(tmp, activeFile(plan));
}
