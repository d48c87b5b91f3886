import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  backupKeyFrom,
  BackupIntegrityError,
  decryptStream,
  encryptStream,
  hashingStream,
} from '../../src/backup/crypt.ts';

async function through(input: Buffer, ...stages: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const out: Buffer[] = [];
  // Small chunks: the header and the tag must be found across chunk boundaries.
  const chunks = Array.from({ length: Math.ceil(input.length / 7) }, (_, i) => input.subarray(i * 7, i * 7 + 7));
  const sink = new Writable({
    write(c: Buffer, _enc, done) {
      out.push(c);
      done();
    },
  });
  await pipeline([Readable.from(chunks), ...stages, sink]);
  return Buffer.concat(out);
}

describe('backup encryption', () => {
  const key = backupKeyFrom('a-stack-secret');
  const plain = randomBytes(10_000);

  it('the same secret gives the same key; another secret another key', () => {
    assert.deepEqual(backupKeyFrom('a-stack-secret'), key);
    assert.notDeepEqual(backupKeyFrom('another'), key);
    assert.equal(key.length, 32);
  });

  it('a missing secret is refused', () => {
    assert.throws(() => backupKeyFrom(''), /backup key is missing/);
  });

  it('round-trips, and the file holds no plaintext', async () => {
    const sealed = await through(plain, encryptStream(key));
    assert.equal(sealed.length, plain.length + 8 + 12 + 16);
    assert.equal(sealed.includes(plain.subarray(100, 140)), false);
    assert.deepEqual(await through(sealed, decryptStream(key)), plain);
  });

  it('an empty input round-trips', async () => {
    const sealed = await through(Buffer.alloc(0), encryptStream(key));
    assert.equal(sealed.length, 36);
  });

  it('a flipped byte, a truncated file or another key fails with an integrity error', async () => {
    const sealed = await through(plain, encryptStream(key));
    const flipped = Buffer.from(sealed);
    flipped[5000] = flipped[5000]! ^ 0x40;
    await assert.rejects(through(flipped, decryptStream(key)), BackupIntegrityError);
    await assert.rejects(through(sealed.subarray(0, sealed.length - 3), decryptStream(key)), BackupIntegrityError);
    await assert.rejects(through(sealed, decryptStream(backupKeyFrom('another'))), /authentication/);
    await assert.rejects(through(Buffer.from('not a backup at all, long enough'), decryptStream(key)), /header/);
  });

  it('hashes what passes through', async () => {
    const h = hashingStream();
    await through(Buffer.from('abc'), h.stream);
    assert.equal(h.digest(), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
