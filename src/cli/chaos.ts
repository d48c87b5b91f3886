/**
 * `tandem chaos`: run a named scenario under a recorded load and judge its promise,
 * or inject and heal faults by hand.
 */
import {
  describeFault,
  FAULT_KINDS,
  type FaultKind,
  heal,
  healAll,
  inject,
  readActive,
  renderMatrix,
  renderScenarioReport,
  runScenario,
  SCENARIOS,
  type ScenarioReport,
  scenarioFor,
  scenarioNamed,
  targetNames,
} from '../chaos/index.ts';
import type { Plan } from '../config/types.ts';
import { TandemError } from '../errors.ts';
import type { StackEvent } from '../orchestrate/events.ts';
import { loadPlan } from '../orchestrate/config-loader.ts';
import { withStackLock } from '../orchestrate/lock.ts';
import { switchover } from '../orchestrate/switchover.ts';
import { type Args, renderCommandHelp } from './args.ts';
import { formatEvent } from './format.ts';

type Out = (text: string) => void;

function emitter(json: boolean, out: Out): (e: StackEvent) => void {
  // While healing, only what `up` actually changed is worth a line.
  return json
    ? () => {}
    : (e) => {
        if (e.kind === 'step' && e.status === 'done' && !e.changed) return;
        const line = formatEvent(e);
        if (line) out(`  ${line}`);
      };
}

async function run(
  plan: Plan,
  names: string[],
  durationMs: number | undefined,
  json: boolean,
  out: Out,
): Promise<number> {
  const wanted = names[0] === 'all' ? SCENARIOS : names.map((n) => scenarioNamed(n));
  const unknown = names.filter((n, i) => n !== 'all' && !wanted[i]);
  if (names.length === 0 || unknown.length > 0) {
    throw new TandemError(
      'TANDEM_USAGE',
      names.length === 0 ? 'which scenario?' : `no scenario ${unknown.join(', ')}`,
      `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}, all`,
    );
  }
  const reports: ScenarioReport[] = [];
  for (const scenario of wanted) {
    const report = await runScenario(plan, scenario!, {
      switchover: handOver,
      emit: emitter(json, out),
      log: json ? undefined : out,
      ...(durationMs ? { durationMs } : {}),
    });
    reports.push(report);
    if (!json) out(`\n${renderScenarioReport(report)}\n`);
  }
  if (json) out(JSON.stringify(reports.length === 1 && names[0] !== 'all' ? reports[0] : reports, null, 2));
  else if (reports.length > 1) out(renderMatrix(reports));
  return reports.every((r) => r.verdict === 'kept') ? 0 : 1;
}

/** The switchover-under-load scenario's action: `tandem switchover`, as a person runs it. */
const handOver = async (plan: Plan, opts: { readonly to?: string }) => {
  const r = await switchover(plan, { to: opts.to, log: () => {} });
  return { from: r.from ?? '?', to: r.to, detail: r.summary.replace(/^tandem: /, '') };
};

/** `tandem chaos <command> [<target>...]`: `operands` are what follows `chaos`. */
export async function runChaos(
  operands: readonly string[],
  opts: Pick<Args, 'config' | 'json' | 'durationMs'> & { lock: Parameters<typeof withStackLock>[1] },
  out: Out,
): Promise<number> {
  const { durationMs } = opts;
  const [command, ...rest] = operands;
  if (command === undefined || command === 'help') {
    out(renderCommandHelp('chaos'));
    return command === undefined ? 1 : 0;
  }
  const plan = await loadPlan(opts.config);
  if (command === 'list') {
    // Each scenario as it runs on this stack's hosting (kill-lb differs on netns).
    const scenarios = SCENARIOS.map((s) => scenarioFor(s, plan));
    if (opts.json)
      out(
        JSON.stringify(
          scenarios.map(({ name, description, promise }) => ({ name, description, promise })),
          null,
          2,
        ),
      );
    else for (const s of scenarios) out(`${s.name.padEnd(22)} ${s.promise}\n${''.padEnd(22)} ${s.description}`);
    return 0;
  }
  if (command === 'active') {
    const active = readActive(plan);
    if (opts.json) out(JSON.stringify(active, null, 2));
    else if (active.length === 0) out('no active faults');
    else
      for (const f of active)
        out(`${new Date(f.at).toISOString()}  ${f.kind} ${f.target}  pids ${f.processes.map((p) => p.pid).join(' ')}`);
    return 0;
  }
  // Everything below changes the stack: one tandem at a time.
  return withStackLock(plan, opts.lock, () => change(plan, command, rest, durationMs, opts, out));
}

async function change(
  plan: Plan,
  command: string,
  rest: string[],
  durationMs: number | undefined,
  opts: { json: boolean },
  out: Out,
): Promise<number> {
  const emit = emitter(opts.json, out);
  switch (command) {
    case 'run':
      return run(plan, rest, durationMs, opts.json, out);
    case 'heal': {
      const records = await healAll(plan, { emit });
      if (opts.json) out(JSON.stringify({ healed: records }));
      else {
        for (const r of records) out(`  ${r.faultId.startsWith('hung:') ? '!' : '✓'} ${r.detail}`);
        const faults = records.filter((r) => !r.faultId.startsWith('hung:')).length;
        out(`tandem: healed ${faults} fault(s); the stack is up.`);
      }
      return 0;
    }
    case 'resume': {
      const paused = readActive(plan).filter(
        (f) => f.kind === 'pause' && (rest[0] === undefined || f.target === rest[0]),
      );
      if (paused.length === 0)
        throw new TandemError(
          'TANDEM_STATE',
          `nothing paused${rest[0] ? ` for ${rest[0]}` : ''}`,
          'see `tandem chaos active`',
        );
      for (const f of paused) {
        const h = await heal(plan, f, { emit });
        out(opts.json ? JSON.stringify(h) : `tandem: ${f.target}: ${h.detail}`);
      }
      return 0;
    }
    default: {
      if (!FAULT_KINDS.includes(command as FaultKind))
        throw new TandemError('TANDEM_USAGE', `unknown chaos command '${command}'`, renderCommandHelp('chaos'));
      const target = rest[0];
      if (!target)
        throw new TandemError('TANDEM_USAGE', `${command} needs a target`, `targets: ${targetNames(plan).join(', ')}`);
      const kind = command as FaultKind;
      const extra = rest[1];
      if (extra !== undefined && kind !== 'partition' && kind !== 'slow-link')
        throw new TandemError(
          'TANDEM_USAGE',
          `${command} takes one target, not '${rest.slice(1).join(' ')}'`,
          renderCommandHelp('chaos'),
        );
      const fault = await inject(plan, {
        kind,
        target,
        ...(kind === 'partition' && extra ? { peer: extra } : {}),
        ...(kind === 'slow-link' && extra ? { rate: extra } : {}),
      });
      if (opts.json) out(JSON.stringify(fault));
      else {
        out(`tandem: ${describeFault(fault)}`);
        out(fault.kind === 'kill' ? '  its supervisor restarts it' : '  undo with: tandem chaos heal');
      }
      return 0;
    }
  }
}
