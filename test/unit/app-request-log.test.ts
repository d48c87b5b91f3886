/** The app's request log: one JSON line per request, carrying the X-Request-Id it came with. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app/build.ts';
import { bufferedLogStream } from '../../src/app/log-stream.ts';

describe('request log', () => {
  let app: FastifyInstance;
  const lines: string[] = [];

  before(async () => {
    app = buildApp({
      host: 'server-1',
      sessionSecret: 'unit-test-secret-0123456789',
      logger: { level: 'info', base: { host: 'server-1' }, stream: { write: (line: string) => lines.push(line) } },
      db: { primary: { host: '127.0.0.1', port: 1 }, replicas: [], user: 'u', password: 'p', database: 'd' },
    });
    await app.ready();
  });
  after(() => app.close());

  test('GIVEN a request with an X-Request-Id THEN exactly one line names it, with method, URL and status', async () => {
    lines.length = 0;
    const res = await app.inject({ method: 'GET', url: '/whoami?x=1', headers: { 'x-request-id': 'lb-id-42' } });
    assert.equal(res.statusCode, 200);
    assert.equal(lines.length, 1);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.reqId, 'lb-id-42');
    assert.equal(record.host, 'server-1');
    assert.equal(record.method, 'GET');
    assert.equal(record.url, '/whoami?x=1');
    assert.equal(record.status, 200);
    assert.equal(typeof record.time, 'number');
    assert.equal(typeof record.ms, 'number');
  });

  test('GIVEN no X-Request-Id THEN the line has an id of its own, and a 404 is logged too', async () => {
    lines.length = 0;
    await app.inject({ method: 'GET', url: '/nosuch' });
    assert.equal(lines.length, 1);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.status, 404);
    assert.ok(typeof record.reqId === 'string' && record.reqId.length > 0);
  });
});

describe('bufferedLogStream', () => {
  test('writes gathered lines in one go: at the size bound, after the delay, and on flush', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-log-')), 'out.log');
    const fd = fs.openSync(file, 'a');
    try {
      const stream = bufferedLogStream(fd, { maxBytes: 10, flushMs: 50 });
      stream.write('abc\n');
      assert.equal(fs.readFileSync(file, 'utf8'), '', 'held back below the bound');
      stream.write('defghij\n');
      assert.equal(fs.readFileSync(file, 'utf8'), 'abc\ndefghij\n', 'written at the bound');
      stream.write('k\n');
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(fs.readFileSync(file, 'utf8'), 'abc\ndefghij\nk\n', 'written after the delay');
      stream.write('l\n');
      stream.flush();
      assert.equal(fs.readFileSync(file, 'utf8'), 'abc\ndefghij\nk\nl\n');
    } finally {
      fs.closeSync(fd);
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
