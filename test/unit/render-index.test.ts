import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { servicePaths } from '../../src/config/paths.ts';
import { renderHostFiles } from '../../src/render/index.ts';
import { DEFAULT_STACK, planOf, removeTempDirs, THREE_TIER_STACK } from './fixtures/plans.ts';

after(removeTempDirs);

describe('renderHostFiles', () => {
  it('gives each host the config of every engine it runs, at servicePaths locations', () => {
    const plan = planOf(DEFAULT_STACK);
    const paths = (host: string) => renderHostFiles(plan, host).map((f) => f.path);
    const configOf = (id: string) => servicePaths(plan.services.find((s) => s.id === id)!).config;

    assert.deepEqual(paths('lb-1'), [
      configOf('lb-1/etcd'),
      configOf('lb-1/haproxy'),
      // The read-only switch's (empty) ACL file, beside HAProxy's config.
      `${plan.stateDir}/hosts/lb-1/haproxy/read-only.acl`,
    ]);
    assert.deepEqual(paths('server-1'), [
      configOf('server-1/etcd'),
      configOf('server-1/mariadb'),
      configOf('server-1/nginx'),
    ]);
    assert.ok(paths('server-2').every((p) => p.startsWith(`${plan.stateDir}/hosts/server-2/`)));
  });

  it('renders nothing for an app-only host and refuses an unknown host', () => {
    const plan = planOf(THREE_TIER_STACK);

    assert.deepEqual(renderHostFiles(plan, 'app-1'), []);
    assert.deepEqual(
      renderHostFiles(plan, 'db-2').map((f) => f.path.split('/hosts/')[1]),
      ['db-2/etcd/etcd.yaml', 'db-2/mariadb/my.cnf'],
    );
    assert.throws(() => renderHostFiles(plan, 'nope'), /no host named nope/);
  });
});
