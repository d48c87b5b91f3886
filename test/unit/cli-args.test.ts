/** The command line: argv → Args or a usage error naming what was wrong; per-command help. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS, parseCommandLine, renderCommandHelp, renderUsage } from '../../src/cli/args.ts';
import { TandemError } from '../../src/errors.ts';

/** The usage error argv produces: its message, and the help it points to. */
function usageError(argv: string[]): { message: string; hint: string } {
  try {
    parseCommandLine(argv);
  } catch (err) {
    assert.ok(err instanceof TandemError && err.code === 'TANDEM_USAGE', String(err));
    return { message: err.message, hint: err.hint ?? '' };
  }
  assert.fail(`${argv.join(' ')} parsed without an error`);
}

describe('parseCommandLine', () => {
  it('GIVEN a command and its options in any order THEN returns them, with defaults for the rest', () => {
    assert.deepEqual(parseCommandLine(['--config', 'site.config.ts', 'up', '--wait', '--json']), {
      command: 'up',
      config: 'site.config.ts',
      json: true,
      yes: false,
      wait: true,
      out: undefined,
      durationMs: undefined,
      to: undefined,
      force: false,
      follow: false,
      since: undefined,
      port: undefined,
      forMs: undefined,
      rest: [],
    });
    const destroy = parseCommandLine(['destroy', '-y', '-c', 'a.ts']);
    assert.deepEqual([destroy.command, destroy.yes, destroy.config, destroy.wait], ['destroy', true, 'a.ts', false]);
    assert.equal(parseCommandLine(['plan', '--out=/tmp/p']).out, '/tmp/p');
    assert.equal(parseCommandLine(['status']).config, 'tandem.config.ts');
  });

  it('passes logs its selector, -f and --since', () => {
    const args = parseCommandLine(['logs', 'lb-1/haproxy', '-f', '--since', '10m', '--json']);
    assert.deepEqual(
      [args.command, args.rest, args.follow, args.since, args.json],
      ['logs', ['lb-1/haproxy'], true, '10m', true],
    );
    assert.deepEqual(parseCommandLine(['logs']).rest, []);
    assert.equal(usageError(['logs', 'lb-1', 'lb-2']).message, 'unexpected argument lb-2');
    assert.equal(usageError(['logs', '--since']).message, '--since needs a value');
    assert.equal(usageError(['status', '-f']).message, 'status takes no option -f');
  });

  it('passes chaos its operands, and --duration in ms', () => {
    const args = parseCommandLine(['chaos', 'partition', 'server-1', 'lb-1,lb-2', '--json', '--config', 'c.ts']);
    assert.deepEqual(
      [args.command, args.rest, args.json, args.config],
      ['chaos', ['partition', 'server-1', 'lb-1,lb-2'], true, 'c.ts'],
    );
    const run = parseCommandLine(['chaos', 'run', 'kill-lb', '--duration', '2.5', '--wait']);
    assert.deepEqual([run.rest, run.durationMs, run.wait], [['run', 'kill-lb'], 2500, true]);
  });

  it('--wait is an option of up, down, destroy and chaos, and of no read-only command', () => {
    for (const command of ['up', 'down', 'destroy', 'chaos'])
      assert.equal(parseCommandLine([command, '--wait']).wait, true);
    for (const command of ['status', 'plan', 'doctor'])
      assert.equal(usageError([command, '--wait']).message, `${command} takes no option --wait`);
  });

  it("--help, -h and help <command> ask for that command's help; no command asks for the usage", () => {
    assert.deepEqual(
      [parseCommandLine(['up', '--help']).command, parseCommandLine(['up', '--help']).topic],
      ['help', 'up'],
    );
    assert.equal(parseCommandLine(['chaos', 'run', '-h']).topic, 'chaos');
    assert.equal(parseCommandLine(['help', 'destroy']).topic, 'destroy');
    assert.equal(parseCommandLine(['--help']).command, 'help');
    assert.equal(parseCommandLine(['--help']).topic, undefined);
    assert.equal(parseCommandLine(['help']).topic, undefined);
    assert.equal(parseCommandLine([]).command, undefined);
  });

  it('GIVEN a mistake THEN a usage error names it, with the help of the command it was for', () => {
    const cases: [string[], string, RegExp][] = [
      [['launch'], "unknown command 'launch'", /^usage: tandem <command>/],
      [['up', '--bogus'], 'unknown option --bogus', /^usage: tandem up \[options\]/],
      [['up', '-x'], 'unknown option -x', /^usage: tandem up/],
      [['status', '--yes'], 'status takes no option --yes', /^usage: tandem status/],
      [['up', '--config'], '--config needs a value', /--config FILE/],
      [['up', '--config', '--json'], '--config needs a value', /^usage: tandem up/],
      [['up', '--json=yes'], '--json takes no value', /^usage: tandem up/],
      [['up', 'now'], 'unexpected argument now', /^usage: tandem up/],
      [['help', 'launch'], "unknown command 'launch'", /^usage: tandem <command>/],
      [['chaos', 'run', 'all', '--duration', 'ten'], '--duration needs a number of seconds', /chaos commands:/],
      [['chaos', 'run', 'all', '--duration', '0'], '--duration needs a number of seconds', /^usage: tandem chaos/],
    ];
    for (const [argv, message, hint] of cases) {
      const err = usageError(argv);
      assert.equal(err.message, message, argv.join(' '));
      assert.match(err.hint, hint, argv.join(' '));
    }
  });
});

describe('help', () => {
  it("each command's help lists exactly the options it accepts", () => {
    const commands = Object.keys(COMMANDS) as (keyof typeof COMMANDS)[];
    assert.ok(commands.length >= 8);
    for (const command of commands) {
      const help = renderCommandHelp(command);
      assert.match(help, new RegExp(`^usage: tandem ${command}\\b`), command);
      const listed = [...help.matchAll(/^ {2}(?:-\w, | {4})--([\w-]+)/gm)].map((m) => m[1]!);
      assert.deepEqual(listed.sort(), ['config', 'help', ...COMMANDS[command].options].sort(), command);
      for (const option of listed.filter((o) => o !== 'help' && o !== 'duration')) {
        const valued = ['config', 'out', 'to', 'since', 'into', 'code'].includes(option)
          ? ['x']
          : ['port', 'for'].includes(option)
            ? ['1']
            : option === 'at'
              ? ['now']
              : option === 'gtid'
                ? ['0-1-1']
                : [];
        // restore needs its point besides any other option.
        const point = command === 'restore' && option !== 'at' && option !== 'gtid' ? ['--at', 'now'] : [];
        // lab needs what to do.
        const operand = command === 'lab' ? ['up'] : [];
        assert.doesNotThrow(
          () => parseCommandLine([command, ...operand, `--${option}`, ...valued, ...point]),
          `${command} --${option}`,
        );
      }
    }
  });

  it('lab: up or down, nothing else', () => {
    assert.deepEqual(parseCommandLine(['lab', 'down', '--json']).rest, ['down']);
    for (const [argv, message] of [
      [['lab'], /: lab needs up or down$/],
      [['lab', 'sideways'], /: lab needs up or down$/],
      [['lab', 'up', 'now'], /: unexpected argument now$/],
    ] as const) {
      assert.throws(() => parseCommandLine([...argv]), message, argv.join(' '));
    }
  });

  it('dashboard: --port is a port number (0: any free one), --for a number of seconds', () => {
    const args = parseCommandLine(['dashboard', '--port', '0', '--for', '1.5']);
    assert.deepEqual([args.command, args.port, args.forMs], ['dashboard', 0, 1500]);
    assert.equal(parseCommandLine(['dashboard']).port, undefined);
    for (const [argv, message] of [
      [['--port', '70000'], /--port needs a port number/],
      [['--port', 'x'], /--port needs a port number/],
      [['--for', '0'], /--for needs a number of seconds/],
      [['--json'], /dashboard takes no option --json/],
    ] as const)
      assert.throws(() => parseCommandLine(['dashboard', ...argv]), message, argv.join(' '));
  });

  it('deploy takes --code DIR; rollback and releases take none; releases takes no lock option', () => {
    const args = parseCommandLine(['deploy', '--code', 'site', '--json', '--wait']);
    assert.deepEqual([args.command, args.code, args.json, args.wait], ['deploy', 'site', true, true]);
    assert.equal(parseCommandLine(['deploy']).code, undefined);
    assert.equal(parseCommandLine(['rollback', '--wait']).command, 'rollback');
    assert.equal(parseCommandLine(['releases', '--json']).json, true);
    for (const [argv, message] of [
      [['deploy', '--code'], /--code needs a value/],
      [['rollback', '--code', 'x'], /rollback takes no option --code/],
      [['releases', '--wait'], /releases takes no option --wait/],
      [['deploy', 'site'], /unexpected argument site/],
    ] as const)
      assert.throws(() => parseCommandLine([...argv]), message, argv.join(' '));
  });

  it('the wait option says what it does', () => {
    assert.match(
      renderCommandHelp('up'),
      /^ {6}--wait +wait for another tandem holding the stack's lock instead of exiting$/m,
    );
  });

  it('the chaos help lists its commands and targets; the usage lists every command', () => {
    assert.match(renderCommandHelp('chaos'), /^ {2}run <scenario>\|all /m);
    assert.match(renderCommandHelp('chaos'), /^ {2}targets: /m);
    const usage = renderUsage();
    for (const command of Object.keys(COMMANDS).filter((c) => c !== 'help'))
      assert.match(usage, new RegExp(`^ {2}${command} +\\S`, 'm'), command);
    assert.match(usage, /tandem <command> --help/);
  });
});
