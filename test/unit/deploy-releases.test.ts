/** Releases and slots (issue 11): the pure parts of `tandem deploy`. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  appAdminPort,
  otherSlot,
  releaseId,
  releasesToPrune,
  RELEASE_ID,
  runningCodeDir,
  slotPorts,
  withReleases,
} from '../../src/deploy/releases.ts';
import { rollBatches } from '../../src/orchestrate/deploy.ts';
import { renderNginx } from '../../src/render/nginx.ts';
import { renderHaproxy } from '../../src/render/haproxy.ts';
import { DEFAULT_STACK, netnsPlanOf, removeTempDirs } from './fixtures/plans.ts';

after(removeTempDirs);

describe('release ids', () => {
  it('are the UTC time to the second and the content hash, and sort by time', () => {
    const id = releaseId('1a2b3c4d5e6f', new Date('2026-11-25T06:15:00.123Z'));
    assert.equal(id, '20261125T061500Z-1a2b3c4d');
    assert.match(id, RELEASE_ID);
    assert.ok(
      releaseId('ffffffff', new Date('2026-11-25T06:15:01Z')) > releaseId('00000000', new Date('2026-11-25T06:15:00Z')),
    );
  });
});

describe('slots', () => {
  const plan = netnsPlanOf(DEFAULT_STACK);

  it('a on the configured ports, b on both plus the offset', () => {
    assert.deepEqual(slotPorts(plan, 'a'), { port: 3000, adminPort: 3001 });
    assert.deepEqual(slotPorts(plan, 'b'), { port: 3100, adminPort: 3101 });
    assert.equal(otherSlot('a'), 'b');
    assert.equal(otherSlot('b'), 'a');
  });

  it('moves one host to slot b: its app service, every upstream naming it, the LB check through nginx', () => {
    const moved = withReleases(plan, { 'server-1': { id: '20261125T061500Z-1a2b3c4d', slot: 'b', previous: 'x' } });
    const app1 = moved.services.find((s) => s.id === 'server-1/app')!;
    const app2 = moved.services.find((s) => s.id === 'server-2/app')!;
    assert.equal(app1.port, 3100);
    assert.equal(appAdminPort(moved, app1), 3101);
    assert.equal(path.basename(app1.dir), 'app-b');
    assert.equal(app2.port, 3000);
    assert.equal(path.basename(app2.dir), 'app');
    const address1 = app1.address;
    for (const list of Object.values(moved.web.upstreams))
      for (const u of list) assert.equal(u.port, u.address === address1 ? 3100 : 3000);
    assert.deepEqual(moved.app.releases?.['server-1'], {
      id: '20261125T061500Z-1a2b3c4d',
      slot: 'b',
      dir: path.join(plan.hosts.find((h) => h.name === 'server-1')!.dir, 'releases', '20261125T061500Z-1a2b3c4d'),
      previous: 'x',
    });
    assert.equal(runningCodeDir(moved, 'server-1'), moved.app.releases!['server-1']!.dir);
    assert.equal(runningCodeDir(plan, 'server-1'), plan.app.codeDir);
    // nginx on server-1 passes the LBs' readiness check to the app's slot-b listener…
    assert.match(
      renderNginx(moved, 'server-1'),
      new RegExp(`location = /readyz \\{[^}]*proxy_pass http://${address1.replace(/\./g, '\\.')}:3101;`),
    );
    assert.match(
      renderNginx(moved, 'server-1'),
      new RegExp(`server ${address1.replace(/\./g, '\\.')}:3100 max_fails=0;`),
    );
    // …so HAProxy's config does not change with the slot.
    assert.equal(renderHaproxy(moved, 'lb-1'), renderHaproxy(plan, 'lb-1'));
    // Idempotent: applying the states again gives the same Plan; no state gives slot a back.
    assert.deepEqual(
      withReleases(moved, { 'server-1': { id: '20261125T061500Z-1a2b3c4d', slot: 'b', previous: 'x' } }),
      moved,
    );
    assert.deepEqual(withReleases(moved, {}).services, plan.services);
  });
});

describe('retention', () => {
  const ids = [
    '20261125T060000Z-00000001',
    '20261125T060100Z-00000002',
    '20261125T060200Z-00000003',
    '20261125T060300Z-00000004',
  ];

  it('keeps the newest N and never the running or previous release', () => {
    assert.deepEqual(releasesToPrune(ids, 2, []), ['20261125T060100Z-00000002', '20261125T060000Z-00000001']);
    assert.deepEqual(releasesToPrune(ids, 2, ['20261125T060000Z-00000001']), ['20261125T060100Z-00000002']);
    assert.deepEqual(releasesToPrune(ids, 5, []), []);
    assert.deepEqual(releasesToPrune([...ids, '.tmp-123', 'junk'], 3, []), ['20261125T060000Z-00000001']);
  });
});

describe('rolling batches', () => {
  it('one server at a time, or with --parallel half of them (rounded up), never all', () => {
    assert.deepEqual(rollBatches(['s1', 's2'], false), [['s1'], ['s2']]);
    assert.deepEqual(rollBatches(['s1', 's2', 's3'], false), [['s1'], ['s2'], ['s3']]);
    assert.deepEqual(rollBatches(['s1', 's2', 's3'], true), [['s1', 's2'], ['s3']]);
    assert.deepEqual(rollBatches(['s1', 's2', 's3', 's4'], true), [
      ['s1', 's2'],
      ['s3', 's4'],
    ]);
    assert.deepEqual(rollBatches(['s1', 's2', 's3', 's4', 's5'], true), [
      ['s1', 's2', 's3'],
      ['s4', 's5'],
    ]);
    for (let n = 2; n <= 9; n++) {
      const hosts = Array.from({ length: n }, (_, i) => `s${i + 1}`);
      const batches = rollBatches(hosts, true);
      assert.deepEqual(batches.flat(), hosts, 'every host once, in order');
      assert.ok(
        batches.every((b) => b.length < n),
        `n=${n}: a batch leaves a server in service`,
      );
    }
  });
});
