/**
 * Encryption at rest of backups and archived binlogs: AES-256-GCM, streamed. A file is
 * `TANDEMB1` (8 bytes), a random 12-byte IV, the ciphertext, then GCM's 16-byte tag.
 * The key is derived from the stack's `backupKey` secret (secrets.json, mode 0600):
 * losing that secret loses every backup, which is why the README says to keep a copy
 * of it apart from the stack.
 *
 * GCM authenticates only at the end: a decrypting stream emits plaintext before the tag
 * is checked. Whoever consumes it must treat what it wrote as unverified until the
 * stream ends without error (restore unpacks into a scratch folder first).
 */
import { createCipheriv, createDecipheriv, createHash, type DecipherGCM, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const MAGIC = Buffer.from('TANDEMB1');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + IV_BYTES;

/** The AES-256 key of a stack's backups, from its `backupKey` secret. */
export function backupKeyFrom(secret: string): Buffer {
  if (!secret) throw new Error('the backup key is missing (backupKey in the stack secrets)');
  return Buffer.from(hkdfSync('sha256', secret, 'tandem-backup', 'aes-256-gcm', 32));
}

/** Encrypts what passes through: header and IV first, the tag after the last byte. */
export function encryptStream(key: Buffer): Transform {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (!started) {
        started = true;
        this.push(Buffer.concat([MAGIC, iv]));
      }
      done(null, cipher.update(chunk));
    },
    flush(done: TransformCallback) {
      if (!started) this.push(Buffer.concat([MAGIC, iv]));
      this.push(cipher.final());
      done(null, cipher.getAuthTag());
    },
  });
}

/** The error a file fails with when it is not a tandem backup, was changed, or needs another key. */
export class BackupIntegrityError extends Error {}

/** Decrypts a file written by `encryptStream`; fails at the end when a byte was changed or the key differs. */
export function decryptStream(key: Buffer): Transform {
  let head = Buffer.alloc(0);
  let decipher: DecipherGCM | undefined;
  // The last TAG_BYTES seen so far: they are the tag if the stream ends here.
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (!decipher) {
        head = Buffer.concat([head, chunk]);
        if (head.length < HEADER_BYTES) return done();
        if (!head.subarray(0, MAGIC.length).equals(MAGIC))
          return done(new BackupIntegrityError('not a tandem backup file (its header is wrong)'));
        decipher = createDecipheriv('aes-256-gcm', key, head.subarray(MAGIC.length, HEADER_BYTES));
        chunk = head.subarray(HEADER_BYTES);
      }
      const data = Buffer.concat([tail, chunk]);
      const cut = Math.max(0, data.length - TAG_BYTES);
      tail = data.subarray(cut);
      done(null, decipher.update(data.subarray(0, cut)));
    },
    flush(done: TransformCallback) {
      if (!decipher || tail.length < TAG_BYTES) return done(new BackupIntegrityError('the backup file is truncated'));
      decipher.setAuthTag(tail);
      try {
        done(null, decipher.final());
      } catch {
        done(
          new BackupIntegrityError('the backup file fails its authentication: it was changed, or needs another key'),
        );
      }
    },
  });
}

/** A pass-through that hashes what flows through it (sha256, hex once the stream ended). */
export function hashingStream(): { stream: Transform; digest: () => string } {
  const hash = createHash('sha256');
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  let hex: string | undefined;
  return { stream, digest: () => (hex ??= hash.digest('hex')) };
}

/** The sha256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const { stream, digest } = hashingStream();
  stream.resume();
  await pipeline(fs.createReadStream(file), stream);
  return digest();
}
