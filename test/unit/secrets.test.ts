/**
 * Secrets travel apart from the Plan: loaded by hosts/secrets.ts and handed only to the
 * steps that need one (the app's password files, the SQL that creates users).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { secretsFileOf } from '../../src/config/resolve.ts';
import { loadOrCreateSecrets } from '../../src/hosts/secrets.ts';
import { attachStatements, nativePasswordHash, userStatements } from '../../src/orchestrate/database.ts';
import { loadPlan } from '../../src/orchestrate/config-loader.ts';
import { unitOf } from '../../src/orchestrate/services.ts';
import { renderHostFiles } from '../../src/render/index.ts';
import { DEFAULT_STACK, makeTempDir, planOf, removeTempDirs, SECRETS } from './fixtures/plans.ts';

after(removeTempDirs);

describe('secrets', () => {
  it('are generated once into a 0600 file, and kept across loads', () => {
    const file = path.join(makeTempDir(), '.tandem', 'secrets.json');
    const first = loadOrCreateSecrets(file);
    assert.equal(first.created, true);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const values = Object.values(first.secrets);
    assert.equal(values.length, 8);
    assert.ok(values.every((v) => v.length >= 24));
    assert.equal(new Set(values).size, values.length, 'each secret is its own');
    const second = loadOrCreateSecrets(file);
    assert.equal(second.created, false);
    assert.deepEqual(second.secrets, first.secrets);
  });

  it('never reach the Plan: a resolved Plan and its rendered files hold none of them', async () => {
    // GIVEN a project whose stack has its secrets file (as after a first up)
    const dir = makeTempDir();
    const configFile = path.join(dir, 'tandem.config.ts');
    fs.writeFileSync(configFile, `export default ${JSON.stringify({ name: 'secretless' })};\n`);
    const { secrets } = loadOrCreateSecrets(secretsFileOf(path.join(dir, '.tandem')));
    // WHEN the config is loaded and resolved
    const plan = await loadPlan(configFile);
    // THEN neither the Plan nor any file rendered from it holds a secret
    assert.equal(plan.secretsFile, path.join(dir, '.tandem', 'secrets.json'));
    const planJson = JSON.stringify(plan);
    const rendered = plan.hosts.flatMap((h) => renderHostFiles(plan, h.name)).map((f) => f.content);
    assert.ok(rendered.length > 0);
    const units = plan.services.map((s) => unitOf(plan, s));
    const unitFiles = units.flatMap((u) => u.files.map((f) => f.content));
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!planJson.includes(secret), `the Plan holds ${name}`);
      assert.ok(!rendered.some((text) => text.includes(secret)), `a rendered file holds ${name}`);
      assert.ok(!unitFiles.some((text) => text.includes(secret)), `a unit made without secrets holds ${name}`);
    }
  });

  it('reach the app only through its 0600 files, in the unit that up makes', () => {
    const plan = planOf(DEFAULT_STACK);
    const app = plan.services.find((s) => s.kind === 'app')!;
    const without = unitOf(plan, app);
    assert.deepEqual(
      without.files.filter((f) => f.mode === 0o600),
      [],
    );
    const withSecrets = unitOf(plan, app, SECRETS);
    const secretFiles = withSecrets.files.filter((f) => f.mode === 0o600);
    assert.deepEqual(
      secretFiles.map((f) => [path.basename(f.path), f.content]),
      [
        ['db-password', SECRETS.dbAppPassword],
        ['session-secret', SECRETS.sessionSecret],
      ],
    );
    // The app's environment names the files, never the values.
    assert.ok(!JSON.stringify(withSecrets.spec).includes(SECRETS.dbAppPassword));
    // A changed secret makes the running app stale (it restarts with the new one).
    const rotated = unitOf(plan, app, { ...SECRETS, sessionSecret: 'another-session-secret' });
    assert.notEqual(rotated.fingerprint, withSecrets.fingerprint);
  });

  it('are handed to the user SQL as arguments, which keeps only their hashes (the binlog relays it)', () => {
    const plan = planOf(DEFAULT_STACK);
    // MariaDB's PASSWORD('password'), a published test vector of mysql_native_password.
    assert.equal(nativePasswordHash('password'), '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
    const users = userStatements(plan, SECRETS).join(';\n');
    const passwords = [
      SECRETS.dbAppPassword,
      SECRETS.dbReplicationPassword,
      SECRETS.dbMonitorPassword,
      SECRETS.dbBackupPassword,
    ];
    for (const pw of passwords) {
      assert.ok(!users.includes(pw));
      assert.ok(users.includes(nativePasswordHash(pw)));
    }
    // CHANGE MASTER needs the password itself; it goes over the socket on stdin, never to the binlog.
    const attach = attachStatements(plan, SECRETS.dbReplicationPassword).join(';\n');
    assert.match(attach, /MASTER_PASSWORD='repl-secret'/);
  });
});
