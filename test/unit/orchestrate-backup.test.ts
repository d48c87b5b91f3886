/**
 * The backup services as `up` runs them (issue 10): a source beside each database and
 * the agent on the backup host, their secrets in 0600 files apart from their configs,
 * and the clear error of a stack that nothing backs up.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { backupToken } from '../../src/backup/auth.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { failInterrupted, readManifests, writeManifest } from '../../src/backup/store.ts';
import { servicePaths } from '../../src/config/paths.ts';
import { DEFAULT_LOOPBACK_HOSTS, DEFAULT_PRIMARY } from '../../src/config/defaults.ts';
import { backupNow, backupStatus, listStoredBackups, requireBackupHost } from '../../src/orchestrate/backup.ts';
import { unitOf } from '../../src/orchestrate/services.ts';
import { makeTempDir, planOf, removeTempDirs, SECRETS as FIXTURE_SECRETS, servicesOf } from './fixtures/plans.ts';

/** Values no path or name contains ('backup-key' is also the key file's name). */
const SECRETS = { ...FIXTURE_SECRETS, backupKey: 'k3y-V4lue-only-here', dbBackupPassword: 'pw-V4lue-only-here' };

after(removeTempDirs);

describe('the backup services', () => {
  const plan = planOf({});

  it('a source beside each database, the agent on the monitor host, asking every source', () => {
    assert.deepEqual(
      servicesOf(plan, 'backup-source').map((s) => s.id),
      ['server-1/backup-source', 'server-2/backup-source'],
    );
    const [agent] = servicesOf(plan, 'backup-agent');
    assert.equal(agent?.id, 'monitor/backup-agent');
    const config = JSON.parse(unitOf(plan, agent!, SECRETS).files.find((f) => f.path.endsWith('.json'))!.content) as {
      sources: { host: string }[];
      dir: string;
    };
    assert.deepEqual(
      config.sources.map((s) => s.host),
      ['server-1', 'server-2'],
    );
    assert.equal(config.dir, plan.backup!.dir);
  });

  it('secrets go to 0600 files, never into a config; the source gets the token, not the key', () => {
    for (const service of [...servicesOf(plan, 'backup-source'), ...servicesOf(plan, 'backup-agent')]) {
      const files = unitOf(plan, service, SECRETS).files;
      const config = files.find((f) => f.path.endsWith('.json'))!;
      for (const secret of [SECRETS.backupKey, SECRETS.dbBackupPassword, backupToken(SECRETS.backupKey)])
        assert.ok(!config.content.includes(secret), `${service.id}: its config holds no secret`);
      const secretFiles = files.filter((f) => f !== config);
      assert.ok(secretFiles.length > 0);
      for (const f of secretFiles) assert.equal(f.mode, 0o600, f.path);
      if (service.kind === 'backup-source')
        assert.ok(!secretFiles.some((f) => f.content === SECRETS.backupKey), 'a db host never holds the backup key');
      // Without secrets (status, plan): no secret file at all.
      assert.deepEqual(
        unitOf(plan, service).files.map((f) => f.path),
        [config.path],
      );
    }
  });

  it("with failover on, each sentinel watches the pause marker its own host's source keeps", () => {
    const failover = planOf({ database: { primary: DEFAULT_PRIMARY, failover: true } });
    const configOf = (id: string) => {
      const service = failover.services.find((s) => s.id === id)!;
      const config = unitOf(failover, service).files.find((f) => f.path === servicePaths(service).config)!;
      return JSON.parse(config.content) as Record<string, unknown>;
    };
    const sources = servicesOf(failover, 'backup-source');
    assert.equal(sources.length, 2);
    for (const source of sources) {
      const marker = configOf(source.id).pauseMarker;
      assert.equal(marker, path.join(source.dir, 'sql-thread-paused'));
      assert.equal(configOf(`${source.host}/sentinel`).backupPauseMarker, marker);
    }
  });

  it('a stack without a backup host: a clear error, and status says nothing backs it up', async () => {
    const bare = planOf({
      database: { primary: DEFAULT_PRIMARY },
      hosts: DEFAULT_LOOPBACK_HOSTS.filter((h) => !h.roles.includes('monitor')).map((h) => ({
        ...h,
        roles: [...h.roles],
      })),
    });
    assert.throws(() => requireBackupHost(bare), /nothing backs stack foobar up: it has no backup host/);
    await assert.rejects(listStoredBackups(bare, false), /no backup host/);
    assert.equal(backupStatus(bare), null);
    assert.deepEqual(backupStatus(plan), { host: 'monitor', count: 0, last: null, lastVerified: null });
  });

  it('never makes a backup key up: without the secrets file, `tandem backup` says the key is missing', async () => {
    await assert.rejects(backupNow(plan, 'full'), /the stack's backup key is missing \(backupKey in .*secrets\.json\)/);
    assert.equal(fs.existsSync(plan.secretsFile), false);
  });
});

describe('the backups folder', () => {
  it('a backup left pending by a stopped agent is failed at its next start, with why', () => {
    const dir = path.join(makeTempDir(), 'backups');
    const pending = { id: '20261125T000000Z-full', kind: 'full', verification: 'pending' } as BackupManifest;
    const verified = { id: '20261124T000000Z-full', kind: 'full', verification: 'verified' } as BackupManifest;
    for (const m of [pending, verified]) {
      fs.mkdirSync(path.join(dir, m.id), { recursive: true });
      writeManifest(dir, m);
    }
    assert.deepEqual(failInterrupted(dir), [pending.id]);
    assert.deepEqual(
      readManifests(dir).map((m) => [m.id, m.verification, m.failure]),
      [
        [verified.id, 'verified', undefined],
        [pending.id, 'failed', 'the backup agent stopped before its drill ended'],
      ],
    );
    assert.equal(fs.statSync(path.join(dir, pending.id, 'manifest.json')).mode & 0o777, 0o600);
  });
});
