/**
 * Chaos for database failover, without a database: the live roles picked from probes,
 * the `db:` and `etcd:` targets, the failover verdicts on passing and failing histories
 * (an unsafe promotion among them), the final-state divergence check and the scenarios.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pickRoles } from '../../src/chaos/db-roles.ts';
import { resolveTarget, targetNames } from '../../src/chaos/targets.ts';
import type { Plan } from '../../src/config/types.ts';
import { planOf, removeTempDirs } from './fixtures/plans.ts';

describe('chaos failover: who is the primary now', () => {
  after(removeTempDirs);

  it('the writable node is the primary, whatever the config says; the config only when none is writable', () => {
    const plan = planOf({});
    const [configPrimary, replica] = [plan.db.primary, plan.db.replicas[0]!];
    const moved = pickRoles(plan, [
      { host: configPrimary, up: false },
      { host: replica, up: true, readOnly: false },
    ]);
    assert.deepEqual(moved, { primary: replica, replicas: [configPrimary], source: 'probe' });
    const none = pickRoles(plan, [
      { host: configPrimary, up: false },
      { host: replica, up: true, readOnly: true },
    ]);
    assert.deepEqual(none, { primary: configPrimary, replicas: [replica], source: 'config' });
    const both = pickRoles(plan, [
      { host: configPrimary, up: true, readOnly: false },
      { host: replica, up: true, readOnly: false },
    ]);
    assert.equal(both.primary, configPrimary);
  });

  it('db:primary-host names the whole host; etcd:member exists only where etcd does', () => {
    const plan = planOf({});
    assert.equal(resolveTarget(plan, 'db:primary-host').host, plan.db.primary);
    assert.equal(resolveTarget(plan, 'db:replica-host').host, plan.db.replicas[0]);
    assert.deepEqual(
      resolveTarget(plan, 'db:replica').services.map((s) => s.id),
      [`${plan.db.replicas[0]}/mariadb`],
    );
    assert.throws(() => resolveTarget(plan, 'db:replica-2-host'), /no fault target 'db:replica-2-host'/);
    assert.ok(!targetNames(plan).includes('etcd:member'));
    assert.throws(() => resolveTarget(plan, 'etcd:member'), /no fault target 'etcd:member'/);
    const etcd = { ...plan.services[0]!, id: 'server-1/etcd', host: 'server-1', kind: 'etcd' };
    const withEtcd = { ...plan, services: [...plan.services, etcd] } as unknown as Plan;
    assert.ok(targetNames(withEtcd).includes('etcd:member'));
    assert.deepEqual(
      resolveTarget(withEtcd, 'etcd:member').services.map((s) => s.id),
      ['server-1/etcd'],
    );
  });
});
