/** `doctor`: what this machine lacks to run a stack, and how to get it. */
import fs from 'node:fs';
import { engines } from '../engines/index.ts';

export interface Requirement {
  readonly binary: string;
  readonly debianPackage: string;
  readonly why: string;
  /** Needed by `up`; the rest only by `bench`. */
  readonly forUp: boolean;
}

export const REQUIREMENTS: readonly Requirement[] = [
  ...Object.values(engines).flatMap((e) =>
    e.binaries.map((b) => ({ binary: b.path, debianPackage: b.debianPackage, why: e.name, forUp: true })),
  ),
  { binary: '/usr/bin/wrk', debianPackage: 'wrk', why: 'benchmarks (npm run bench)', forUp: false },
];

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function missingEngines(all = false): Requirement[] {
  return REQUIREMENTS.filter((r) => (all || r.forUp) && !executable(r.binary));
}

export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: readonly { what: string; ok: boolean; fix?: string }[];
}

export function doctor(): DoctorReport {
  const checks: { what: string; ok: boolean; fix?: string }[] = REQUIREMENTS.map((r) => {
    const ok = executable(r.binary);
    return { what: `${r.binary} (${r.why})`, ok, fix: ok ? undefined : `apt-get install -y ${r.debianPackage}` };
  });
  const major = Number(process.versions.node.split('.')[0]);
  checks.push({
    what: `Node.js ${process.versions.node} (20 or newer)`,
    ok: major >= 20,
    fix: major >= 20 ? undefined : 'install Node.js 20',
  });
  const root = process.getuid?.() === 0;
  checks.push({
    what: 'running as root (binds ports below 1024)',
    ok: root,
    fix: root ? undefined : 'run as root, or set lb.port / web.port above 1024',
  });
  return { ok: checks.every((c) => c.ok), checks };
}
