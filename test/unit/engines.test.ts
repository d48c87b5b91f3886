import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { engines, haproxyEngine, mariadbEngine, nginxEngine } from '../../src/engines/index.ts';
import { unitOf } from '../../src/orchestrate/services.ts';
import { DEFAULT_STACK, planOf, removeTempDirs } from './fixtures/plans.ts';

const lb = servicePaths({ dir: '/s/hosts/lb-1/haproxy', kind: 'haproxy' });
const web = servicePaths({ dir: '/s/hosts/server-1/nginx', kind: 'nginx' });
const db = servicePaths({ dir: '/s/hosts/server-1/mariadb', kind: 'mariadb' });

after(removeTempDirs);

describe('haproxyEngine', () => {
  it('checks and runs the config in master-worker mode, in the foreground', () => {
    assert.deepEqual(haproxyEngine.checkCommand(lb), [
      '/usr/sbin/haproxy',
      '-c',
      '-f',
      '/s/hosts/lb-1/haproxy/haproxy.cfg',
    ]);
    assert.deepEqual(haproxyEngine.runCommand(lb), [
      '/usr/sbin/haproxy',
      '-W',
      '-db',
      '-dMglobal',
      '-f',
      '/s/hosts/lb-1/haproxy/haproxy.cfg',
    ]);
  });

  it('reloads on SIGUSR2 and soft-stops on SIGUSR1', () => {
    assert.equal(haproxyEngine.reloadSignal, 'SIGUSR2');
    assert.equal(haproxyEngine.stopSignal, 'SIGUSR1');
    assert.equal(haproxyEngine.debianPackage, 'haproxy');
  });
});

describe('nginxEngine', () => {
  it('tests and runs the config with the service directory as prefix', () => {
    assert.deepEqual(nginxEngine.checkCommand(web), [
      '/usr/sbin/nginx',
      '-t',
      '-c',
      '/s/hosts/server-1/nginx/nginx.conf',
      '-p',
      '/s/hosts/server-1/nginx',
    ]);
    assert.deepEqual(nginxEngine.runCommand(web), [
      '/usr/sbin/nginx',
      '-c',
      '/s/hosts/server-1/nginx/nginx.conf',
      '-p',
      '/s/hosts/server-1/nginx',
    ]);
  });

  it('reloads on SIGHUP and stops gracefully on SIGQUIT', () => {
    assert.equal(nginxEngine.reloadSignal, 'SIGHUP');
    assert.equal(nginxEngine.stopSignal, 'SIGQUIT');
    assert.equal(nginxEngine.reopenLogsSignal, 'SIGUSR1');
    assert.equal(nginxEngine.debianPackage, 'nginx');
  });
});

describe('mariadbEngine', () => {
  const defaultsFile = '--defaults-file=/s/hosts/server-1/mariadb/my.cnf';

  it('checks, runs and installs with the rendered option file first on the command line', () => {
    assert.deepEqual(mariadbEngine.checkCommand(db), ['/usr/sbin/mariadbd', defaultsFile, '--help', '--verbose']);
    assert.deepEqual(mariadbEngine.runCommand(db), ['/usr/sbin/mariadbd', defaultsFile]);
    assert.deepEqual(mariadbEngine.installCommand(db), [
      '/usr/bin/mariadb-install-db',
      defaultsFile,
      '--auth-root-authentication-method=socket',
      '--skip-test-db',
      '--skip-name-resolve',
    ]);
  });

  it('builds client and ping commands', () => {
    assert.deepEqual(mariadbEngine.clientCommand(db, 'SELECT 1'), [
      '/usr/bin/mariadb',
      defaultsFile,
      '-N',
      '-B',
      '-e',
      'SELECT 1',
    ]);
    assert.deepEqual(mariadbEngine.clientCommand(db), ['/usr/bin/mariadb', defaultsFile, '-N', '-B']);
    assert.deepEqual(mariadbEngine.pingCommand(db), [
      '/usr/bin/mariadb-admin',
      defaultsFile,
      '--connect-timeout=2',
      'ping',
    ]);
  });

  it('has no reload signal and stops on SIGTERM', () => {
    assert.equal(mariadbEngine.reloadSignal, null);
    assert.equal(mariadbEngine.stopSignal, 'SIGTERM');
  });

  it('is probed for liveness with a read over a new socket connection, never a write', () => {
    const { argv, ...timing } = mariadbEngine.livenessProbe(db);
    assert.deepEqual(argv, [
      '/usr/bin/mariadb',
      defaultsFile,
      '--connect-timeout=1',
      '-N',
      '-B',
      '-e',
      "SHOW GLOBAL STATUS LIKE 'Uptime'",
    ]);
    // Found hung within 5 s; a fresh instance has time to initialise; a hung one is not
    // given the minute of a planned stop.
    assert.ok(timing.failures * timing.everyMs + timing.timeoutMs <= 5000);
    assert.ok(timing.graceMs >= 30_000 && timing.startupMs! >= timing.graceMs);
    assert.ok(timing.stopTimeoutMs! < mariadbEngine.stopGraceMs);
  });
});

describe('supervised specs', () => {
  it("carry the engine's liveness probe: the database has one, the other engines none", () => {
    const plan = planOf(DEFAULT_STACK);
    const specs = plan.services.map((s) => [s.kind, unitOf(plan, s).spec] as const);
    const db = specs.filter(([kind]) => kind === 'mariadb');
    assert.ok(db.length >= 2);
    for (const [, spec] of db) assert.match(spec.liveness?.argv.join(' ') ?? '', /SHOW GLOBAL STATUS/);
    const others = specs.filter(([kind]) => kind !== 'mariadb');
    assert.ok(others.length > 0);
    for (const [kind, spec] of others) assert.equal(spec.liveness, undefined, kind);
  });
});

describe('engines', () => {
  it('names each engine after its service kind and lists its main binary for doctor', () => {
    for (const [kind, engine] of Object.entries(engines)) {
      assert.equal(engine.name, kind);
      assert.ok(engine.binaries.some((b) => b.path === engine.binary && b.debianPackage === engine.debianPackage));
      assert.ok(engine.stopGraceMs > 0);
    }
    assert.deepEqual(
      mariadbEngine.binaries.map((b) => b.path),
      ['/usr/sbin/mariadbd', '/usr/bin/mariadb-install-db', '/usr/bin/mariadb', '/usr/bin/mariadb-admin'],
    );
  });
});
