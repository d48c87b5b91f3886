/**
 * The reseed's transport on loopback, with mbstream as the stream format (no database):
 * the receiver takes the stream only from the donor's address and after its token, and
 * unpacks it; an abort ends it. The backup itself is proven in
 * test/integration/reseed.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { receiveBackup, sendStream } from '../../src/sentinel/reseed.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-reseed-stream-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const DONOR = '127.0.0.1';
const TOKEN = 'a-token-only-the-sentinels-know';

/** Two files and the argv that streams them (mbstream keeps the paths it is given: relative ones). */
function source(name: string): string[] {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'ibdata1'), Buffer.alloc(300_000, 7));
  fs.writeFileSync(path.join(dir, 'mariadb_backup_binlog_info'), 'binlog.000002\t389\t0-2-250\n');
  return ['/bin/sh', '-c', `cd ${dir} && exec /usr/bin/mbstream -c ibdata1 mariadb_backup_binlog_info`];
}

function target(name: string): string {
  const dir = path.join(root, name, 'out');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A stranger's attempt: connects from `from`, writes `first`, and reports whether the receiver hung up on it. */
function stranger(port: number, from: string, first: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: DONOR, port, localAddress: from });
    s.on('connect', () => s.write(first));
    s.on('close', () => resolve(true));
    s.on('error', () => {});
    setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 3000).unref();
  });
}

describe('reseed stream', () => {
  it('the donor’s stream, after its token, is unpacked whole', async () => {
    const out = target('whole');
    const abort = new AbortController();
    const rx = receiveBackup(DONOR, 0, DONOR, TOKEN, out, abort.signal);
    const port = await rx.listening;
    const sent = await sendStream({ address: DONOR, port, token: TOKEN }, DONOR, source('whole'), abort.signal);
    const received = await rx.done;
    assert.ok(sent > 300_000, `sent ${sent}`);
    assert.equal(received, sent);
    assert.equal(fs.readFileSync(path.join(out, 'ibdata1')).length, 300_000);
    assert.equal(
      fs.readFileSync(path.join(out, 'mariadb_backup_binlog_info'), 'utf8'),
      'binlog.000002\t389\t0-2-250\n',
    );
  });

  it('drops a connection without the token, or from another address, and waits on for the donor', async () => {
    const out = target('strangers');
    const abort = new AbortController();
    const rx = receiveBackup(DONOR, 0, DONOR, TOKEN, out, abort.signal);
    const port = await rx.listening;
    assert.equal(await stranger(port, DONOR, 'wrong-token\n'), true, 'a wrong token is hung up on');
    assert.equal(await stranger(port, '127.0.0.2', `${TOKEN}\n`), true, 'another address is hung up on');
    assert.deepEqual(fs.readdirSync(out), [], 'nothing unpacked from them');
    await sendStream({ address: DONOR, port, token: TOKEN }, DONOR, source('strangers'), abort.signal);
    assert.ok((await rx.done) > 300_000);
    assert.deepEqual(fs.readdirSync(out).sort(), ['ibdata1', 'mariadb_backup_binlog_info']);
  });

  it('an abort (the reseed’s time bound) ends the wait with its reason and frees the port', async () => {
    const abort = new AbortController();
    const rx = receiveBackup(DONOR, 0, DONOR, TOKEN, target('abort'), abort.signal);
    const port = await rx.listening;
    abort.abort(new Error('the reseed took longer than 1 s'));
    await assert.rejects(rx.done, /longer than 1 s/);
    const stop = new AbortController();
    const again = receiveBackup(DONOR, port, DONOR, TOKEN, target('abort-again'), stop.signal);
    assert.equal(await again.listening, port);
    stop.abort(new Error('done'));
    await again.done.catch(() => {});
  });

  it('a donor whose tool fails reports it, naming the tool and its exit', async () => {
    const abort = new AbortController();
    const rx = receiveBackup(DONOR, 0, DONOR, TOKEN, target('fails'), abort.signal);
    const port = await rx.listening;
    await assert.rejects(
      sendStream(
        { address: DONOR, port, token: TOKEN },
        DONOR,
        ['/bin/sh', '-c', 'echo no space >&2; exit 3'],
        abort.signal,
      ),
      /sh -c .* exited with code 3: no space/,
    );
    abort.abort(new Error('ended'));
    await rx.done.catch(() => {});
  });
});
