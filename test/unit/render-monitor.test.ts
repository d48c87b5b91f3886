import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DEFAULT_HOSTS } from '../../src/config/defaults.ts';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Plan, StackConfig } from '../../src/config/types.ts';
import { type AlertRule, alertRuleGroups, renderAlertRules } from '../../src/render/alert-rules.ts';
import { renderAlertmanager, webhookUrl } from '../../src/render/alertmanager.ts';
import { renderBlackbox } from '../../src/render/blackbox.ts';
import { ALERT_RULES_FILE, renderPrometheus, siteProbeTarget } from '../../src/render/prometheus.ts';
import { toYaml } from '../../src/render/yaml.ts';
import { ALERT_TESTS, type AlertTest } from './fixtures/alert-rule-cases.ts';
import { installed, makeTempDir, netnsPlanOf, planOf, removeTempDirs, run } from './fixtures/plans.ts';

const HOSTS = [
  { name: 'lb-1', roles: ['lb'] },
  { name: 'lb-2', roles: ['lb'] },
  { name: 'server-1', roles: ['web', 'app', 'db'] },
  { name: 'server-2', roles: ['web', 'app', 'db'] },
  { name: 'monitor', roles: ['monitor'] },
] as const satisfies StackConfig['hosts'];

/** The textbook design with a monitor host and database failover (etcd): every rule group. */
const MONITORED: StackConfig = { hosts: [...HOSTS], database: { primary: 'server-2', failover: true } };

/** Loopback, three tiers, no failover: no VIP, no TLS, no etcd. */
const LOOPBACK_THREE_TIER: StackConfig = {
  network: { subnet: '127.63.0.0/24' },
  hosts: [
    { name: 'lb-1', roles: ['lb'] },
    { name: 'web-1', roles: ['web'] },
    { name: 'app-1', roles: ['app'] },
    { name: 'db-1', roles: ['db'] },
    { name: 'db-2', roles: ['db', 'monitor'] },
  ],
  database: { primary: 'db-1' },
};

const PROMTOOL = '/usr/bin/promtool';
const AMTOOL = '/usr/bin/amtool';
const BLACKBOX = '/usr/bin/prometheus-blackbox-exporter';

after(removeTempDirs);

/** `job_name` → its targets, in order, read back from the rendered prometheus.yml. */
function scrapeTargets(yaml: string): Record<string, string[]> {
  const jobs: Record<string, string[]> = {};
  let current = '';
  let inTargets = false;
  for (const line of yaml.split('\n')) {
    const job = /^ {2}- job_name: (\S+)$/.exec(line);
    if (job) jobs[(current = job[1]!)] = [];
    const target = /^ {10}- '?([^']+)'?$/.exec(line);
    if (target && inTargets) jobs[current]!.push(target[1]!);
    else inTargets = /^ {6}- targets:$/.test(line);
  }
  return jobs;
}

describe('renderPrometheus', () => {
  it('scrapes node_exporter on every host and each engine where it runs, the monitor included', () => {
    const jobs = scrapeTargets(renderPrometheus(netnsPlanOf(MONITORED)));
    assert.deepEqual(jobs, {
      node: ['10.77.0.11:9100', '10.77.0.12:9100', '10.77.0.13:9100', '10.77.0.14:9100', '10.77.0.15:9100'],
      haproxy: ['10.77.0.11:8405', '10.77.0.12:8405'],
      nginx: ['10.77.0.13:9113', '10.77.0.14:9113'],
      app: ['10.77.0.13:3001', '10.77.0.14:3001'],
      mysqld: ['10.77.0.13:9104', '10.77.0.14:9104'],
      etcd: ['10.77.0.13:2379', '10.77.0.14:2379', '10.77.0.11:2379'],
      sentinel: ['10.77.0.13:9109', '10.77.0.14:9109'],
      'binlog-archiver': ['10.77.0.15:9098'],
      blackbox: ['https://10.77.0.10/'],
      prometheus: ['10.77.0.15:9090'],
      alertmanager: ['10.77.0.15:9093'],
      // The backup agent's metrics (issue 10), on the monitor host by default.
      backup: ['10.77.0.15:9096'],
    });
  });

  it('has no etcd or sentinel job without failover, and probes the LB address when there is no VIP', () => {
    const plan = planOf(LOOPBACK_THREE_TIER);
    const jobs = scrapeTargets(renderPrometheus(plan));
    assert.equal(jobs.etcd, undefined);
    assert.equal(jobs.sentinel, undefined);
    assert.deepEqual(jobs.blackbox, ['http://127.63.0.11/']);
    assert.equal(siteProbeTarget(plan), 'http://127.63.0.11/');
  });

  it('refuses a plan without a monitor host', () => {
    const plan = netnsPlanOf({
      hosts: [...DEFAULT_HOSTS.filter((h) => !h.roles.includes('monitor'))],
      database: { primary: 'server-2' },
    });
    for (const render of [renderPrometheus, renderAlertmanager, renderBlackbox, renderAlertRules])
      assert.throws(() => render(plan), /no host has the 'monitor' role/);
  });

  it('sends every alert to the webhook on the monitor host, resolved ones too', () => {
    const plan = netnsPlanOf(MONITORED);
    assert.equal(webhookUrl(plan), 'http://10.77.0.15:9095/alerts');
    assert.ok(
      renderAlertmanager(plan).includes(
        "      - url: 'http://10.77.0.15:9095/alerts'\n        send_resolved: true\n        max_alerts: 100\n",
      ),
    );
  });
});

describe('toYaml', () => {
  it('quotes what YAML would read as something else, and nests lists of maps', () => {
    assert.equal(
      toYaml({
        a: 'plain',
        b: 'on',
        c: '5s',
        d: 'x: "y"',
        e: "it's",
        f: [{ g: 1, h: [] }, ['n']],
        i: {},
        j: undefined,
      }),
      [
        'a: plain',
        "b: 'on'",
        'c: 5s',
        `d: 'x: "y"'`,
        'e: "it\'s"',
        'f:',
        '  - g: 1',
        '    h: []',
        "  - - 'n'",
        'i: {}',
        '',
      ].join('\n'),
    );
  });
});

/** Writes the monitor's files where they will live, and placeholders for the etcd client certificate promtool looks for. */
function writeMonitorFiles(plan: Plan): { prometheus: string; rules: string; alertmanager: string; blackbox: string } {
  const dir = plan.monitor!.dir;
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    prometheus: path.join(dir, 'prometheus.yml'),
    rules: path.join(dir, ALERT_RULES_FILE),
    alertmanager: path.join(dir, 'alertmanager.yml'),
    blackbox: path.join(dir, 'blackbox.yml'),
  };
  fs.writeFileSync(files.prometheus, renderPrometheus(plan));
  fs.writeFileSync(files.rules, renderAlertRules(plan));
  fs.writeFileSync(files.alertmanager, renderAlertmanager(plan));
  fs.writeFileSync(files.blackbox, renderBlackbox(plan));
  for (const file of plan.etcd ? [plan.etcd.tls.ca, plan.etcd.tls.clientCert, plan.etcd.tls.clientKey] : []) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '');
  }
  return files;
}

describe(
  "the monitoring engines' own checkers on the rendered files",
  { skip: !installed(PROMTOOL) && 'prometheus (promtool) is not installed' },
  () => {
    for (const [name, plan] of [
      ['netns with failover', () => netnsPlanOf(MONITORED)],
      ['netns without failover', () => netnsPlanOf({ ...MONITORED, database: { primary: 'server-2' } })],
      ['loopback three-tier', () => planOf(LOOPBACK_THREE_TIER)],
    ] as const) {
      it(`promtool check config, amtool check-config and blackbox --config.check accept the ${name} stack`, () => {
        const files = writeMonitorFiles(plan());
        const prometheus = run([PROMTOOL, 'check', 'config', files.prometheus]);
        assert.equal(prometheus.status, 0, prometheus.stdout + prometheus.stderr);
        assert.match(prometheus.stdout, /SUCCESS: \d+ rules found/);
        const rules = run([PROMTOOL, 'check', 'rules', files.rules]);
        assert.equal(rules.status, 0, rules.stdout + rules.stderr);
        const am = run([AMTOOL, 'check-config', files.alertmanager]);
        assert.equal(am.status, 0, am.stdout + am.stderr);
        const blackbox = run([BLACKBOX, `--config.file=${files.blackbox}`, '--config.check']);
        assert.equal(blackbox.status, 0, blackbox.stderr);
        assert.doesNotMatch(blackbox.stderr, /level=(warn|error)/);
      });
    }

    it('the checkers fail on a broken expression and an unknown Alertmanager key, so the checks can fail', () => {
      const files = writeMonitorFiles(netnsPlanOf(MONITORED));
      fs.writeFileSync(
        files.rules,
        fs.readFileSync(files.rules, 'utf8').replace('\'up{job="node"} == 0\'', '\'up{job="node"} ==\''),
      );
      const rules = run([PROMTOOL, 'check', 'rules', files.rules]);
      assert.notEqual(rules.status, 0);
      assert.match(rules.stdout + rules.stderr, /parse error/);
      fs.writeFileSync(
        files.alertmanager,
        fs.readFileSync(files.alertmanager, 'utf8').replace('group_wait:', 'group_whenever:'),
      );
      const am = run([AMTOOL, 'check-config', files.alertmanager]);
      assert.notEqual(am.status, 0);
      assert.match(am.stdout + am.stderr, /group_whenever/);
    });
  },
);

/** The description Prometheus renders: only `{{ $labels.x }}` templates are allowed in one. */
function expandDescription(rule: AlertRule, labels: Readonly<Record<string, string>>): string {
  const text = rule.description.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? '');
  assert.doesNotMatch(text, /\{\{/, `${rule.alert}: a description may use only {{ $labels.x }}`);
  return text;
}

/** A `promtool test rules` file for one group's tests against the rendered rules. */
function promtoolTests(tests: readonly AlertTest[], rules: readonly AlertRule[]): string {
  const ruleNamed = (alert: string) => {
    const rule = rules.find((r) => r.alert === alert);
    assert.ok(rule, `no rule named ${alert} in the rendered rules`);
    return rule;
  };
  return toYaml({
    rule_files: [ALERT_RULES_FILE],
    evaluation_interval: '5s',
    tests: tests.map((t) => ({
      name: t.name,
      interval: '5s',
      input_series: Object.entries(t.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: t.checks.map((c) => ({
        eval_time: c.at,
        alertname: c.alert,
        exp_alerts: c.fires.map((f) => ({
          exp_labels: f.labels,
          exp_annotations: { summary: f.summary, description: expandDescription(ruleNamed(c.alert), f.labels) },
        })),
      })),
    })),
  });
}

describe(
  'promtool test rules: each alert fires when it should and not when it should not',
  { skip: !installed(PROMTOOL) && 'promtool is not installed' },
  () => {
    const plan = netnsPlanOf(MONITORED);
    const groups = alertRuleGroups(plan);
    const rules = groups.flatMap((g) => g.rules);

    it('every rendered rule has a case where it fires and one where it stays silent', () => {
      assert.deepEqual(
        Object.keys(ALERT_TESTS),
        groups.map((g) => g.name),
      );
      assert.ok(rules.length > 0);
      for (const group of groups) {
        const checks = ALERT_TESTS[group.name]!.flatMap((t) => t.checks);
        for (const rule of group.rules) {
          const own = checks.filter((c) => c.alert === rule.alert);
          assert.ok(
            own.some((c) => c.fires.length > 0),
            `${group.name}/${rule.alert} has no case where it fires`,
          );
          assert.ok(
            own.some((c) => c.fires.length === 0),
            `${group.name}/${rule.alert} has no case where it stays silent`,
          );
        }
      }
    });

    for (const [group, tests] of Object.entries(ALERT_TESTS)) {
      it(`the ${group} rules pass their promtool tests`, () => {
        const dir = makeTempDir();
        fs.writeFileSync(path.join(dir, ALERT_RULES_FILE), renderAlertRules(plan));
        const file = path.join(dir, `${group}.test.yml`);
        fs.writeFileSync(file, promtoolTests(tests, rules));
        const r = run([PROMTOOL, 'test', 'rules', file]);
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /SUCCESS/);
      });
    }

    it('a wrong expectation fails the promtool test, so these tests can fail', () => {
      const dir = makeTempDir();
      fs.writeFileSync(path.join(dir, ALERT_RULES_FILE), renderAlertRules(plan));
      const [first] = ALERT_TESTS.availability!;
      const wrong: AlertTest = {
        ...first!,
        checks: first!.checks.map((c) => ({ ...c, fires: c.fires.map((f) => ({ ...f, summary: `${f.summary}!` })) })),
      };
      const file = path.join(dir, 'wrong.test.yml');
      fs.writeFileSync(file, promtoolTests([wrong], rules));
      const r = run([PROMTOOL, 'test', 'rules', file]);
      assert.notEqual(r.status, 0);
      assert.match(r.stdout + r.stderr, /FAILED/);
    });
  },
);
