/**
 * `tandem deploy`, `rollback` and `releases` (issue 11) on a loopback stack with real
 * engines, through the CLI, under a recorded load through the LB: a good release fails
 * no request and every answer comes from the old or the new release; a release that
 * crashes at start and one whose /readyz answers 500 are rolled back by themselves; a
 * rollback fails no request; a deploy while a server is down, and a second deploy while
 * one runs, are refused.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Op } from '../../src/chaos/history.ts';
import { runWorkload } from '../../src/chaos/workload.ts';
import type { Plan, StackConfig } from '../../src/config/types.ts';
import { loadPlan } from '../../src/orchestrate/config-loader.ts';
import { backendStates, setServerState } from '../../src/orchestrate/lb.ts';
import { REPO, sleep, TestStack } from '../support/stack.ts';

const NAME = 'deploy';
const SUBNET = '127.93.0';
const CONFIG: StackConfig = {
  name: NAME,
  hosting: 'loopback',
  network: { subnet: `${SUBNET}.0/24` },
  hosts: [
    { name: 'lb-1', roles: ['lb'] },
    { name: 'server-1', roles: ['web', 'app', 'db'] },
    { name: 'server-2', roles: ['web', 'app', 'db'] },
  ],
  database: { primary: 'server-1' },
};
const stack = new TestStack(NAME, CONFIG);
const SERVERS = ['server-1', 'server-2'];
let plan: Plan;

/** A copy of tandem's sources (the bundled app imports ../db), its app changed by `change`. */
function codeBase(label: string, change: (appDir: string) => void, dir = stack.dir): string {
  const root = path.join(dir, `code-${label}`);
  fs.cpSync(path.join(REPO, 'src'), path.join(root, 'src'), { recursive: true });
  const app = path.join(root, 'src', 'app');
  change(app);
  return app;
}

function edit(file: string, from: string, to: string): void {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.includes(from), `${file} has ${JSON.stringify(from)}`);
  fs.writeFileSync(file, text.replace(from, to));
}

/** Runs `tandem <args>` under a load of reads and writes through the LB; returns both. */
async function underLoad(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; ops: Op[] }> {
  return underLoadOf(stack, plan, args);
}

async function underLoadOf(
  stack: TestStack,
  plan: Plan,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; ops: Op[] }> {
  const stop = new AbortController();
  const load = runWorkload(plan, {
    runId: `deploy${Date.now()}`,
    concurrency: 4,
    durationMs: 120_000,
    maxOps: 50_000,
    ratePerSec: 60,
    timeoutMs: 5000,
    latencyBoundMs: 5000,
    mix: ['page', 'api', 'write'],
    retryWrites: false,
    signal: stop.signal,
  });
  await sleep(1000);
  const r = await stack.run(...args);
  await sleep(1000);
  stop.abort();
  const ops = await load;
  return { ...r, ops };
}

/** Every operation answered as expected; prints the failures when not. */
function assertNoneFailed(ops: readonly Op[]): void {
  assert.ok(ops.length > 50, `the load ran (${ops.length} operations)`);
  const failed = ops.filter((o) => o.outcome !== 'ok');
  assert.deepEqual(
    failed.slice(0, 5).map((o) => `${o.kind} ${o.outcome} ${o.status ?? ''} ${o.error ?? ''}`),
    [],
    `${failed.length} of ${ops.length} failed`,
  );
}

/** x-release of every answer, counted. */
function releasesSeen(ops: readonly Op[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const o of ops) seen.set(o.release ?? '(none)', (seen.get(o.release ?? '(none)') ?? 0) + 1);
  return seen;
}

/** What each server's app answers in /whoami, asked at its own nginx. */
async function whoamiEverywhere(): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const name of SERVERS) {
    const host = plan.hosts.find((h) => h.name === name)!;
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`http://${host.address}:${plan.web.port}/whoami`);
      const body = (await res.json()) as { server: string; release?: string };
      if (body.server === name) {
        out[name] = body.release;
        break;
      }
    }
  }
  return out;
}

const releaseIn = (stdout: string): string => {
  const id = /(\d{8}T\d{6}Z-[0-9a-f]{8})/.exec(stdout)?.[1];
  assert.ok(id, `a release id in:\n${stdout}`);
  return id;
};

describe('tandem deploy', { timeout: 600_000 }, () => {
  let good1: string;
  let good2: string;
  let crash: string;
  let badReady: string;

  before(async () => {
    await stack.up();
    plan = await loadPlan(stack.configFile);
    good1 = codeBase('good1', (app) =>
      edit(path.join(app, 'routes', 'status.ts'), '/** The public', '/** good1: the public'),
    );
    good2 = codeBase('good2', (app) =>
      edit(path.join(app, 'routes', 'status.ts'), '/** The public', '/** good2: the public'),
    );
    crash = codeBase('crash', (app) =>
      edit(
        path.join(app, 'server.ts'),
        'async function main(): Promise<void> {',
        "async function main(): Promise<void> {\n  throw new Error('boom: this release crashes at start');",
      ),
    );
    badReady = codeBase('bad-ready', (app) =>
      edit(path.join(app, 'admin.ts'), 'reply.code(last.ready ? 200 : 503);', 'reply.code(500);'),
    );
  });
  after(() => stack.cleanup());

  let first = '';

  it('rolls a good release across both servers with 0 failed requests; every answer is old or new; up then changes nothing', async () => {
    const before = await whoamiEverywhere();
    assert.deepEqual(before, { 'server-1': undefined, 'server-2': undefined }, 'up runs no release');
    const started = Date.now();
    const r = await underLoad('deploy', '--code', good1);
    const wall = Date.now() - started;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    first = releaseIn(r.stdout);
    assertNoneFailed(r.ops);
    const seen = releasesSeen(r.ops);
    process.stdout.write(
      `# deploy ${first}: ${r.ops.length} ops, answers by release ${JSON.stringify([...seen])}, ${wall} ms with the load's 2 s\n${r.stdout}\n`,
    );
    assert.deepEqual(
      [...seen.keys()].filter((k) => k !== '(none)' && k !== first),
      [],
      'every answer from the old or the new release',
    );
    assert.ok((seen.get(first) ?? 0) > 0, 'the new release answered');
    assert.deepEqual(await whoamiEverywhere(), { 'server-1': first, 'server-2': first });
    const up = await stack.run('up');
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /nothing to change/, up.stdout);
    // The config's code base is not what runs: up says so and points to deploy.
    assert.match(
      up.stdout,
      new RegExp(
        `run release ${first} \\(made from .*code-good1.*\\), which differs from the code base in .*\`tandem deploy\``,
      ),
      up.stdout,
    );
    assert.deepEqual(await whoamiEverywhere(), { 'server-1': first, 'server-2': first });
  });

  for (const [label, code, why] of [
    ['crashes at start', () => crash, /exited at start[\s\S]*boom: this release crashes at start/],
    ['answers /readyz 500', () => badReady, /\/readyz did not answer 200[\s\S]*HTTP 500/],
  ] as const) {
    it(`rolls back a release that ${label} by itself: exit 1, why and its log, 0 failed requests, the old release everywhere`, async () => {
      const r = await underLoad('deploy', '--code', code());
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      process.stdout.write(`# ${label}: ${r.ops.length} ops\n${r.stderr}\n`);
      assert.match(r.stderr, /failed its gate on server-1/);
      assert.match(r.stderr, why);
      assert.match(r.stderr, /Rolled back: server-1 serves/);
      assertNoneFailed(r.ops);
      assert.deepEqual([...releasesSeen(r.ops).keys()], [first], 'only the old release answered');
      assert.deepEqual(await whoamiEverywhere(), { 'server-1': first, 'server-2': first });
    });
  }

  it('rolls back to the previous release with 0 failed requests; releases says what runs where', async () => {
    const d = await stack.run('deploy', '--code', good2);
    assert.equal(d.code, 0, `${d.stdout}\n${d.stderr}`);
    const second = releaseIn(d.stdout);
    assert.deepEqual(await whoamiEverywhere(), { 'server-1': second, 'server-2': second });
    const r = await underLoad('rollback');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assertNoneFailed(r.ops);
    assert.deepEqual(
      [...releasesSeen(r.ops).keys()].filter((k) => k !== first && k !== second),
      [],
      'every answer from the two releases',
    );
    assert.deepEqual(await whoamiEverywhere(), { 'server-1': first, 'server-2': first });
    const list = await stack.run('releases', '--json');
    assert.equal(list.code, 0, list.stderr);
    const report = JSON.parse(list.stdout) as {
      releases: { id: string; runningOn: string[]; previousOn: string[] }[];
      hosts: { host: string; release?: string; previous?: string }[];
    };
    assert.deepEqual(
      report.hosts.map((h) => [h.host, h.release, h.previous]),
      SERVERS.map((s) => [s, first, second]),
    );
    assert.deepEqual(report.releases.find((x) => x.id === first)?.runningOn, SERVERS);
    assert.deepEqual(report.releases.find((x) => x.id === second)?.previousOn, SERVERS);
    const text = await stack.run('releases');
    assert.match(text.stdout, new RegExp(`${first}.*runs on server-1, server-2`));
  });

  it('runs the release migrations once on the primary first: a failed one ends the deploy with nothing switched', async () => {
    const badMigration = codeBase('bad-migration', (app) =>
      fs.writeFileSync(path.join(app, 'migrations', '003_bad.sql'), 'ALTER TABLE no_such_table ADD COLUMN x INT;\n'),
    );
    const before = await stack.run('releases', '--json');
    const r = await stack.run('deploy', '--code', badMigration);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /the migrations of release \S+ failed; nothing was switched/);
    assert.match(r.stderr, /no_such_table/);
    const after = JSON.parse((await stack.run('releases', '--json')).stdout) as { hosts: unknown };
    assert.deepEqual(after.hosts, (JSON.parse(before.stdout) as { hosts: unknown }).hosts, 'no host switched');
    assert.deepEqual(await whoamiEverywhere(), { 'server-1': first, 'server-2': first });
  });

  it('refuses --parallel with two servers: one must serve while the other is worked on', async () => {
    const before = await stack.run('releases', '--json');
    const r = await stack.run('deploy', '--parallel', '--code', good1);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /--parallel needs more than two app servers \(this stack has 2\)/);
    assert.equal((await stack.run('releases', '--json')).stdout, before.stdout, 'nothing changed');
  });

  it('refuses a second deploy while one runs (the stack lock)', async () => {
    const firstDeploy = stack.run('deploy', '--code', good2);
    await sleep(1500);
    const second = await stack.run('deploy', '--code', good2);
    const done = await firstDeploy;
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    assert.equal(second.code, 1, second.stdout);
    assert.match(second.stderr, /another tandem is working on the stack "deploy"/);
  });

  it('a server left drained by a deploy that did not finish: deploy refuses, `tandem up` puts it back in service', async () => {
    // What a deploy killed between its drain and its undrain leaves behind.
    assert.deepEqual(await setServerState(plan, 'server-1', 'drain'), []);
    const refused = await stack.run('deploy', '--code', good1);
    assert.equal(refused.code, 1, `${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, /server-1 is out of service \(server-1 DRAIN/);
    const r = await stack.run('up');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /server-1 drained by a deploy that did not finish: back in service/);
    const states = await backendStates(plan);
    assert.ok(states.length > 0 && states.every((s) => s.status.startsWith('UP')), JSON.stringify(states));
  });

  it('refuses to take the last healthy server out of service while the other is down', async () => {
    const kill = await stack.run('chaos', 'kill-host', 'server-2');
    assert.equal(kill.code, 0, `${kill.stdout}\n${kill.stderr}`);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const states = await backendStates(plan);
      if (states.some((s) => s.server === 'server-2' && !s.status.startsWith('UP'))) break;
      await sleep(100);
    }
    const before = await stack.run('releases', '--json');
    const r = await stack.run('deploy', '--code', good1);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /server-2 is out of service/);
    assert.match(r.stderr, /server-1 is the last healthy server; refusing to take it out of service/);
    assert.equal((await stack.run('releases', '--json')).stdout, before.stdout, 'nothing changed');
    const heal = await stack.run('chaos', 'heal');
    assert.equal(heal.code, 0, `${heal.stdout}\n${heal.stderr}`);
  });
});

describe('tandem deploy --parallel (three servers)', { timeout: 600_000 }, () => {
  const three = new TestStack('deploy-three', {
    name: 'deploy3',
    hosting: 'loopback',
    network: { subnet: '127.89.0.0/24' },
    hosts: [
      { name: 'lb-1', roles: ['lb'] },
      { name: 'server-1', roles: ['web', 'app', 'db'] },
      { name: 'server-2', roles: ['web', 'app', 'db'] },
      { name: 'server-3', roles: ['web', 'app'] },
    ],
    database: { primary: 'server-1' },
  });
  let plan3: Plan;
  before(async () => {
    await three.up();
    plan3 = await loadPlan(three.configFile);
  });
  after(() => three.cleanup());

  it('rolls two servers at once and then the third, with 0 failed requests; every server ends on the new release', async () => {
    const code = codeBase(
      'parallel',
      (app) => {
        edit(path.join(app, 'routes', 'status.ts'), '/** The public', '/** parallel: the public');
        fs.appendFileSync(path.join(app, 'public', 'app.css'), '\n/* parallel: a changed stylesheet */\n');
      },
      three.dir,
    );
    const servers = plan3.hosts.filter((h) => h.name.startsWith('server-'));
    const stylesheetOf = async (address: string): Promise<string | undefined> =>
      /<link rel="stylesheet" href="([^"]+)"/.exec(
        await (await fetch(`http://${address}:${plan3.web.port}/`)).text(),
      )?.[1];
    const oldCss = await stylesheetOf(servers[0]!.address);
    assert.ok(oldCss, 'the page links its stylesheet');
    const r = await underLoadOf(three, plan3, ['deploy', '--parallel', '--json', '--code', code]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assertNoneFailed(r.ops);
    const result = JSON.parse(r.stdout) as {
      release: string;
      ms: number;
      hosts: { host: string; atMs: number; ms: number }[];
    };
    assert.deepEqual(result.hosts.map((h) => h.host).sort(), ['server-1', 'server-2', 'server-3']);
    const span = (name: string) => {
      const h = result.hosts.find((x) => x.host === name)!;
      return [h.atMs, h.atMs + h.ms] as const;
    };
    const [s1, s2, s3] = [span('server-1'), span('server-2'), span('server-3')];
    process.stdout.write(
      `# deploy --parallel: ${result.ms} ms in all; server rolls (ms) ${JSON.stringify([s1, s2, s3])}\n`,
    );
    assert.ok(s1[0] < s2[1] && s2[0] < s1[1], `server-1 and server-2 rolled together: ${JSON.stringify([s1, s2])}`);
    assert.ok(s3[0] >= Math.max(s1[1], s2[1]), `server-3 rolled after them: ${JSON.stringify([s1, s2, s3])}`);
    const newCss = await stylesheetOf(servers[0]!.address);
    assert.ok(newCss && newCss !== oldCss, `the new page links the new stylesheet (${oldCss} → ${newCss})`);
    for (const host of servers) {
      const res = await fetch(`http://${host.address}:${plan3.web.port}/whoami`);
      assert.equal(res.headers.get('x-release'), result.release, `${host.name} answers with the new release`);
      // A page of either release finds its stylesheet on every web server.
      const stylesheets: string[] = [oldCss!, newCss!];
      for (const css of stylesheets) {
        const asset: Response = await fetch(`http://${host.address}:${plan3.web.port}${css}`);
        assert.equal(asset.status, 200, `${host.name}${css}`);
      }
    }
  });

  it('down after the deploy stops every app where it runs now (slot b): no process is left', async () => {
    const pids = ['server-1', 'server-2', 'server-3'].flatMap((host) => {
      const state = JSON.parse(
        fs.readFileSync(path.join(three.dir, '.tandem', 'hosts', host, 'app-b', 'supervisor.json'), 'utf8'),
      ) as { supervisorPid: number; pid: number };
      return [state.supervisorPid, state.pid];
    });
    assert.ok(
      pids.every((pid) => fs.existsSync(`/proc/${pid}`)),
      `the apps run in slot b: ${pids.join(', ')}`,
    );
    const r = await three.run('down');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    // A process just ended may stay a zombie for a moment, until its parent reaps it.
    const alive = (pid: number) => {
      try {
        return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 20 && pids.some(alive); i++) await sleep(100);
    assert.deepEqual(pids.filter(alive), [], `every app process stopped\n${r.stdout}`);
  });
});

const NETNS = process.getuid?.() === 0;

describe(
  'tandem deploy on netns: through the VIP from the client namespace, firewalls on',
  { skip: NETNS ? false : 'netns needs root', timeout: 600_000 },
  () => {
    const netns = new TestStack('deploy-netns', {
      name: 'dnetns',
      hosting: 'netns',
      network: { subnet: '10.91.0.0/24' },
    });
    let netnsPlan: Plan;
    before(async () => {
      await netns.up();
      netnsPlan = await loadPlan(netns.configFile);
    });
    after(() => netns.cleanup());

    it('rolls a good release across both servers with 0 failed requests; afterwards every answer is the new release', async () => {
      const root = path.join(netns.dir, 'code-good');
      fs.cpSync(path.join(REPO, 'src'), path.join(root, 'src'), { recursive: true });
      edit(path.join(root, 'src', 'app', 'routes', 'status.ts'), '/** The public', '/** netns: the public');
      const r = await underLoadOf(netns, netnsPlan, ['deploy', '--code', path.join(root, 'src', 'app')]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const id = releaseIn(r.stdout);
      process.stdout.write(
        `# netns deploy: ${r.ops.length} ops, by release ${JSON.stringify([...releasesSeen(r.ops)])}\n${r.stdout}\n`,
      );
      assertNoneFailed(r.ops);
      assert.deepEqual(
        [...releasesSeen(r.ops).keys()].filter((k) => k !== '(none)' && k !== id),
        [],
      );
      const afterwards = await runWorkload(netnsPlan, {
        runId: `after${Date.now()}`,
        concurrency: 2,
        durationMs: 3000,
        maxOps: 1000,
        ratePerSec: 40,
        timeoutMs: 5000,
        latencyBoundMs: 5000,
        mix: ['api'],
        retryWrites: false,
      });
      assert.ok(afterwards.length > 20, `${afterwards.length} operations after the deploy`);
      assert.equal(afterwards.filter((o) => o.outcome !== 'ok').length, 0, 'none failed after the deploy');
      assert.deepEqual([...releasesSeen(afterwards).keys()], [id], 'only the new release answers');
      assert.deepEqual(new Set(afterwards.map((o) => o.server)), new Set(SERVERS), 'from both servers');
    });
  },
);
