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
import { loadPlan } from '../orchestrate/config-loader.ts';
import { withStackLock } from '../orchestrate/lock.ts';
import { planFiles } from '../orchestrate/plan-diff.ts';
import { status } from '../orchestrate/status.ts';
import { up } from '../orchestrate/up.ts';
import { type Args, parseCommandLine, renderCommandHelp, renderUsage } from './args.ts';
import { formatEvent, formatStatus } from './format.ts';

type Out = (text: string) => void;

/** doctor: this machine, and on ssh hosting (a config here says so) each host over SSH. */
async function doctorWithHosts(args: Args): Promise<ReturnType<typeof doctor>> {
  const report = doctor();
  if (!fs.existsSync(args.config)) return report;
  const plan = await loadPlan(args.config);
  if (plan.hosting !== 'ssh') return report;
  const { sshHostChecks } = await import('../orchestrate/doctor.ts');
  const { sshTransport } = await import('../hosts/ssh.ts');
  const transport = sshTransport(plan, { trustNewHostKeys: args.trustNewHostKeys === true });
  try {
    const checks = [...report.checks, ...(await sshHostChecks(plan, transport))];
    return { ok: checks.every((c) => c.ok), checks };
  } finally {
    await transport.closeAll();
  }
}

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
      out(renderUsage());
      return 1;
    case 'help':
      out(args.topic ? renderCommandHelp(args.topic) : renderUsage());
      return 0;
    case 'doctor': {
      const report = await doctorWithHosts(args);
      if (args.json) out(JSON.stringify(report, null, 2));
      else
        for (const c of report.checks)
          out(`${c.ok ? '  ok  ' : '  MISSING'} ${c.what}${c.fix ? `\n          fix: ${c.fix}` : ''}`);
      return report.ok ? 0 : 1;
    }
    case 'up': {
      const plan = await loadPlan(args.config, { forUp: true });
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
      const plan = await loadPlan(args.config);
      const s = await status(plan);
      out(args.json ? JSON.stringify(s, null, 2) : formatStatus(s));
      return 0;
    }
    case 'plan': {
      const plan = await loadPlan(args.config);
      const outDir = path.resolve(args.out ?? path.join(plan.stateDir, 'plan'));
      const files = await planFiles(plan, outDir);
      if (args.json) {
        const { codeDrift } = await import('../orchestrate/release-build.ts');
        const drift = codeDrift(plan);
        out(JSON.stringify({ outDir, files, ...(drift ? { code: drift } : {}) }, null, 2));
        return 0;
      }
      for (const f of files) {
        out(`${f.state.padEnd(8)} ${f.service.padEnd(20)} ${path.relative(outDir, f.rendered)}`);
        if (f.diff) out(f.diff.replace(/^/gm, '    '));
      }
      const { codeDrift } = await import('../orchestrate/release-build.ts');
      const drift = codeDrift(plan);
      if (drift) out(drift);
      const changed = files.filter((f) => f.state !== 'same').length;
      out(
        `rendered ${files.length} files into ${outDir}; ${changed === 0 ? 'no differences from what runs' : `${changed} differ from what runs (tandem up applies them)`}`,
      );
      return 0;
    }
    case 'ca': {
      const plan = await loadPlan(args.config);
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
      const plan = await loadPlan(args.config);
      const { stopped } = await withStackLock(plan, lockOptions(args), () => down(plan, { emit }));
      out(
        stopped === 0
          ? 'tandem: nothing was running.'
          : `tandem: stopped ${stopped} service(s); data kept in ${plan.stateDir}`,
      );
      return 0;
    }
    case 'destroy': {
      const plan = await loadPlan(args.config);
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
    case 'switchover':
    case 'failover': {
      const plan = await loadPlan(args.config);
      if (args.command === 'failover' && !args.force) {
        throw new TandemError(
          'TANDEM_USAGE',
          'failover promotes a replica that may lack acknowledged writes: it needs --force',
          'for a planned change with no loss use `tandem switchover`; the sentinels fail over by themselves when the primary dies',
        );
      }
      const { switchover, forceFailover } = await import('../orchestrate/switchover.ts');
      const result = await withStackLock(plan, lockOptions(args), () =>
        args.command === 'switchover'
          ? switchover(plan, { to: args.to, log: out })
          : forceFailover(plan, { to: args.to, log: out }),
      );
      out(args.json ? JSON.stringify(result) : result.summary);
      return 0;
    }
    case 'alerts': {
      const { runAlerts } = await import('./alerts.ts');
      return runAlerts(args, out);
    }
    case 'backup':
    case 'backups': {
      const { runBackup, runBackups } = await import('./backup.ts');
      return args.command === 'backup' ? runBackup(args, out) : runBackups(args, out);
    }
    case 'restore': {
      const { runRestore } = await import('./restore.ts');
      return runRestore(args, out);
    }
    case 'logs': {
      const { runLogs } = await import('./logs.ts');
      return runLogs(args, out);
    }
    case 'dashboard': {
      const { runDashboard } = await import('./dashboard.ts');
      return runDashboard(args, out);
    }
    case 'deploy':
    case 'rollback':
    case 'releases': {
      // Loaded on demand, as restore is.
      const { runDeploy } = await import('./deploy.ts');
      return runDeploy(args, { emit, lock: lockOptions(args) }, out);
    }
    case 'lab': {
      const { runLab } = await import('./lab.ts');
      return runLab(args, { wait: args.wait, log: (m: string) => console.error(m) }, out);
    }
    case 'chaos': {
      // Loaded on demand: the other commands need none of the chaos machinery.
      const { runChaos } = await import('./chaos.ts');
      return runChaos(args.rest, { ...args, lock: lockOptions(args) }, out);
    }
  }
}

export async function main(argv: readonly string[], out: Out = (t) => console.log(t)): Promise<number> {
  try {
    return await runCommand(parseCommandLine(argv), out);
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
