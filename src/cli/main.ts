/**
 * The `tandem` command: turns arguments into orchestrate/ calls and events into
 * output. User errors (TandemError) print a message and exit 1; bugs print a stack.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import { TandemError } from '../errors.ts';
import { doctor } from '../orchestrate/doctor.ts';
import { destroy, down } from '../orchestrate/down.ts';
import { loadPlan } from '../orchestrate/load.ts';
import { withStackLock } from '../orchestrate/lock.ts';
import { planFiles } from '../orchestrate/plan-diff.ts';
import { status } from '../orchestrate/status.ts';
import { up } from '../orchestrate/up.ts';
import { formatEvent, formatStatus } from './format.ts';

const USAGE = `usage: tandem <command> [--config tandem.config.ts] [--json]

  up        bring the whole stack up (idempotent); prints the site's URL
  status    hosts, services, load balancer and database state (--json)
  plan      render every file into a folder (--out DIR) and diff against what runs
  down      stop everything, keep data
  destroy   stop everything and remove the state folder (asks unless --yes)
  doctor    what is missing on this machine, and how to get it (--json)
  chaos     inject faults under a recorded load and judge the promises (tandem chaos help)

  up, down, destroy and chaos take the stack's lock: while another tandem holds it they
  exit 1 naming it, or with --wait wait for it.
`;

interface Args {
  command: string | undefined;
  config: string;
  json: boolean;
  yes: boolean;
  /** Wait for the stack's lock instead of exiting when another tandem holds it. */
  wait: boolean;
  out: string | undefined;
  /** Arguments after `chaos`, for src/cli/chaos.ts to parse. */
  rest: string[];
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    command: undefined,
    config: 'tandem.config.ts',
    json: false,
    yes: false,
    wait: false,
    out: undefined,
    rest: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new TandemError('TANDEM_USAGE', `${a} needs a value`, USAGE);
      return v;
    };
    if (a === '--config' || a === '-c') args.config = value();
    else if (a.startsWith('--config=')) args.config = a.slice('--config='.length);
    else if (a === '--json') args.json = true;
    else if (a === '--yes' || a === '-y') args.yes = true;
    else if (a === '--out') args.out = value();
    else if (a === '--wait') args.wait = true;
    else if (args.command === 'chaos' && a !== '--help' && a !== '-h') args.rest.push(a);
    else if (a === '--help' || a === '-h') args.command = 'help';
    else if (a.startsWith('-')) throw new TandemError('TANDEM_USAGE', `unknown option ${a}`, USAGE);
    else if (args.command === undefined) args.command = a;
    else throw new TandemError('TANDEM_USAGE', `unexpected argument ${a}`, USAGE);
  }
  return args;
}

type Out = (text: string) => void;

const lockOptions = (args: Args) => ({ wait: args.wait, log: (m: string) => console.error(m) });

async function runCommand(args: Args, out: Out): Promise<number> {
  const emit = args.json
    ? () => {}
    : (e: Parameters<typeof formatEvent>[0]) => {
        const line = formatEvent(e);
        if (line) out(line);
      };
  switch (args.command) {
    case undefined:
    case 'help':
      out(USAGE);
      return args.command === undefined ? 1 : 0;
    case 'doctor': {
      const report = doctor();
      if (args.json) out(JSON.stringify(report, null, 2));
      else
        for (const c of report.checks)
          out(`${c.ok ? '  ok  ' : '  MISSING'} ${c.what}${c.fix ? `\n          fix: ${c.fix}` : ''}`);
      return report.ok ? 0 : 1;
    }
    case 'up': {
      const plan = await loadPlan(args.config, { createSecrets: true });
      let result: Awaited<ReturnType<typeof up>>;
      try {
        result = await withStackLock(plan, lockOptions(args), () => up(plan, { emit }));
      } catch (err) {
        // Say exactly what state the stack is in: the steps marked ✓ or = above are done.
        if (
          err instanceof TandemError &&
          ['TANDEM_PROCESS_FAILED', 'TANDEM_NOT_READY', 'TANDEM_STATE'].includes(err.code)
        ) {
          err.hint = `${err.hint ? `${err.hint}\n  → ` : ''}the steps marked ✓/= above are in place, the rest is not: fix the cause and run \`tandem up\` again (it resumes), or \`tandem down\``;
        }
        throw err;
      }
      if (args.json) out(JSON.stringify(result));
      else {
        out(result.changed ? 'tandem: the stack is up.' : 'tandem: nothing to change; the stack was already up.');
        if (plan.client?.namespace) {
          out(`site: ${result.url}  (resolvable from the client namespace; the VIP is ${plan.lb.vip})`);
          const trust = plan.tls.enabled ? ` --cacert ${plan.tls.userSupplied ? plan.tls.cert : plan.tls.caCert}` : '';
          out(`try:  ip netns exec ${plan.client.namespace} curl${trust} ${result.url}`);
        } else out(`site: ${result.url}  (Host: ${plan.hostnames.join(', ')})`);
      }
      return 0;
    }
    case 'status': {
      const plan = await loadPlan(args.config, { createSecrets: false });
      const s = await status(plan);
      out(args.json ? JSON.stringify(s, null, 2) : formatStatus(s));
      return 0;
    }
    case 'plan': {
      const plan = await loadPlan(args.config, { createSecrets: false });
      const outDir = path.resolve(args.out ?? path.join(plan.stateDir, 'plan'));
      const files = await planFiles(plan, outDir);
      if (args.json) {
        out(JSON.stringify({ outDir, files }, null, 2));
        return 0;
      }
      for (const f of files) {
        out(`${f.state.padEnd(8)} ${f.service.padEnd(20)} ${path.relative(outDir, f.rendered)}`);
        if (f.diff) out(f.diff.replace(/^/gm, '    '));
      }
      const changed = files.filter((f) => f.state !== 'same').length;
      out(
        `rendered ${files.length} files into ${outDir}; ${changed === 0 ? 'no differences from what runs' : `${changed} differ from what runs (tandem up applies them)`}`,
      );
      return 0;
    }
    case 'ca': {
      const plan = await loadPlan(args.config, { createSecrets: false });
      if (!plan.tls.enabled)
        throw new TandemError('TANDEM_USAGE', 'TLS is off for this stack', 'set tls: { enabled: true }');
      const file = plan.tls.userSupplied ? plan.tls.cert : plan.tls.caCert;
      if (!fs.existsSync(file))
        throw new TandemError('TANDEM_STATE', `no certificate yet at ${file}`, 'run `tandem up` first');
      if (args.json) out(JSON.stringify({ caCert: file, userSupplied: plan.tls.userSupplied }));
      else out(file);
      return 0;
    }
    case 'down': {
      const plan = await loadPlan(args.config, { createSecrets: false });
      const { stopped } = await withStackLock(plan, lockOptions(args), () => down(plan, { emit }));
      out(
        stopped === 0
          ? 'tandem: nothing was running.'
          : `tandem: stopped ${stopped} service(s); data kept in ${plan.stateDir}`,
      );
      return 0;
    }
    case 'destroy': {
      const plan = await loadPlan(args.config, { createSecrets: false });
      if (!args.yes) {
        if (!process.stdin.isTTY) {
          throw new TandemError(
            'TANDEM_USAGE',
            `destroy removes ${plan.stateDir} and all its data`,
            'pass --yes to confirm',
          );
        }
        const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Remove ${plan.stateDir} and all data (databases, secrets)? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          out('tandem: nothing removed.');
          return 1;
        }
      }
      await withStackLock(plan, lockOptions(args), () => destroy(plan, { emit }));
      out(`tandem: removed ${plan.stateDir}`);
      return 0;
    }
    case 'chaos': {
      // Loaded on demand: the other commands need none of the chaos machinery.
      const { runChaos } = await import('./chaos.ts');
      return runChaos(args.rest, { config: args.config, json: args.json, lock: lockOptions(args) }, out);
    }
    default:
      throw new TandemError('TANDEM_USAGE', `unknown command '${args.command}'`, USAGE);
  }
}

export async function main(argv: readonly string[], out: Out = (t) => console.log(t)): Promise<number> {
  try {
    return await runCommand(parseArgs(argv), out);
  } catch (err) {
    if (err instanceof TandemError) {
      console.error(`tandem: ${err.message}`);
      if (err.hint) console.error(`  → ${err.hint}`);
      return 1;
    }
    console.error(err);
    return 2;
  }
}
