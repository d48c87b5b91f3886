/**
 * A stack is one thing on this machine (issue 7 §4): a second folder with the same
 * stack name is refused (it would share namespaces and links), and once a stack exists
 * `status`, `down` and `destroy` act on the hosting recorded in its state: a non-root
 * user gets a clear error instead of looking at a different, loopback stack.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exec } from '../support/exec.ts';
import { processesUsing, REPO, serviceOf, TestStack } from '../support/stack.ts';

// No `hosting`: root's default is netns, anyone else's loopback.
const first = new TestStack('twin-a', { name: 'twin', network: { subnet: '10.83.0.0/24' } });
const second = new TestStack('twin-b', { name: 'twin', hosting: 'netns', network: { subnet: '10.84.0.0/24' } });

/** The CLI as user nobody (uid 65534), in the first stack's folder. */
function asNobody(...args: string[]) {
  return exec(
    [
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      path.join(REPO, 'bin/tandem.js'),
      ...args,
      '--config',
      first.configFile,
    ],
    60_000,
    first.dir,
  );
}

describe('one stack per name, on the hosting it was brought up with', { timeout: 600_000 }, () => {
  before(async () => {
    await first.up();
  });
  after(async () => {
    await second.cleanup();
    await first.cleanup();
    assert.deepEqual([...processesUsing(first.dir), ...processesUsing(second.dir)], []);
  });

  it('GIVEN a stack named twin WHEN another folder brings up a stack named twin THEN it is refused with how to rename one', async () => {
    const r = await second.run('up');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /another stack named "twin" exists on this machine/);
    assert.ok(r.stderr.includes(path.join(first.dir, '.tandem')), 'names the folder of the other stack');
    assert.match(r.stderr, /set name: '<another name>' in this stack's tandem\.config\.ts/);
    assert.equal(fs.existsSync(path.join(second.dir, '.tandem', 'hosts')), false, 'nothing was set up');
    // Nor does its `down` remove the namespaces of the other stack, though they bear its names.
    assert.equal((await second.run('down')).code, 0);
    const status = await first.status();
    assert.equal(serviceOf(status, 'lb-1/haproxy').state, 'running', 'the first stack is untouched');
  });

  it('GIVEN a netns stack WHEN a non-root user runs status or down THEN a clear error, and the stack runs on', async () => {
    fs.chmodSync(first.dir, 0o755); // nobody may read the config, not the state
    for (const command of ['status', 'down']) {
      const r = await asNobody(command);
      assert.equal(r.code, 1, `${command} as nobody: ${r.stdout}`);
      assert.match(r.stderr, /brought up by root|only root can/);
      assert.match(r.stderr, /run tandem as root/);
      assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
      assert.doesNotMatch(r.stdout, /loopback/);
    }
    const status = await first.status();
    assert.equal(status.hosting, 'netns');
    assert.equal(serviceOf(status, 'lb-1/haproxy').state, 'running');
  });

  it('GIVEN the first stack was stopped and its folder deleted THEN its stale name record does not block the other folder', async () => {
    assert.equal((await first.run('down')).code, 0);
    fs.rmSync(path.join(first.dir, '.tandem'), { recursive: true, force: true });
    await second.up();
    assert.equal(serviceOf(await second.status(), 'lb-1/haproxy').state, 'running');
  });
});
