/**
 * `down` also stops the services a state folder records that the Plan no longer names
 * (started under an earlier config): which ones those are, from the folder alone.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { strayServices } from '../../src/orchestrate/down.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-stray-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function service(host: string, kind: string, supervised: boolean): string {
  const dir = path.join(root, 'hosts', host, kind);
  fs.mkdirSync(dir, { recursive: true });
  if (supervised) fs.writeFileSync(path.join(dir, 'supervisor.json'), '{}');
  return dir;
}

describe('down: services recorded but no longer planned', () => {
  it('names each supervised service folder the Plan does not, and nothing else', () => {
    const planned = [service('server-1', 'mariadb', true), service('server-1', 'app', true)];
    service('server-1', 'sentinel', true);
    service('lb-1', 'etcd', true);
    service('server-2', 'etcd', false); // never started: nothing to stop
    fs.writeFileSync(path.join(root, 'hosts', 'server-1', 'firewall.nft'), '');
    const stray = strayServices(root, planned);
    assert.deepEqual(stray.map((s) => s.id).sort(), ['lb-1/etcd', 'server-1/sentinel']);
    const sentinel = stray.find((s) => s.id === 'server-1/sentinel')!;
    assert.equal(sentinel.paths.supervisor, path.join(root, 'hosts', 'server-1', 'sentinel', 'supervisor.json'));
    assert.equal(sentinel.paths.pid, path.join(root, 'hosts', 'server-1', 'sentinel', 'sentinel.pid'));
  });

  it('finds none in a folder without hosts', () => {
    assert.deepEqual(strayServices(path.join(root, 'absent'), []), []);
  });
});
