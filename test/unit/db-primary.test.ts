/**
 * Finding the primary and deciding which failed writes may run again: pure parts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DbQueryError,
  DbReadOnlyError,
  DbTimeoutError,
  DbTwoWritableError,
  DbUnavailableError,
  mayRetryWrite,
  toDbError,
} from '../../src/db/errors.ts';
import { choosePrimary, type NodeProbe, readOnlyAnswer } from '../../src/db/primary-choice.ts';
import { PrimaryFinder, probeDelayMs } from '../../src/db/primary-finder.ts';
import type { DbEvent } from '../../src/db/types.ts';

describe('choosePrimary', () => {
  test('the only node answering read_only = 0 is the primary', () => {
    assert.deepEqual(
      choosePrimary([
        { server: 'a:3306', readOnly: true },
        { server: 'b:3306', readOnly: false },
        { server: 'c:3306', error: 'connect ECONNREFUSED' },
      ]),
      { kind: 'found', server: 'b:3306' },
    );
  });

  test('two writable nodes: neither is chosen, both are named', () => {
    assert.deepEqual(
      choosePrimary([
        { server: 'a:3306', readOnly: false },
        { server: 'b:3306', readOnly: false },
        { server: 'c:3306', readOnly: true },
      ]),
      { kind: 'two-writable', servers: ['a:3306', 'b:3306'] },
    );
  });

  test('no writable node: unknown, with each read-only count and failure in the reason', () => {
    const choice = choosePrimary([
      { server: 'a:3306', readOnly: true },
      { server: 'b:3306', error: 'did not answer a ping within 500 ms' },
    ]);
    assert.equal(choice.kind, 'unknown');
    assert.equal(
      choice.kind === 'unknown' && choice.reason,
      'no writable primary (1 of 2 nodes are read-only; b:3306: did not answer a ping within 500 ms)',
    );
    assert.deepEqual(choosePrimary([]), {
      kind: 'unknown',
      reason: 'no writable primary (no database node is configured)',
    });
  });

  test('read_only answers: 0/1 and OFF/ON; anything else is no answer', () => {
    assert.equal(readOnlyAnswer(0), false);
    assert.equal(readOnlyAnswer('0'), false);
    assert.equal(readOnlyAnswer('OFF'), false);
    assert.equal(readOnlyAnswer(1), true);
    assert.equal(readOnlyAnswer('on'), true);
    assert.equal(readOnlyAnswer(null), undefined);
    assert.equal(readOnlyAnswer('2'), undefined);
  });

  test('probes while no primary is known back off from 25 ms to 100 ms', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((n) => probeDelayMs(n)),
      [25, 50, 100, 100, 100],
    );
  });
});

describe('which failed writes are retried on the new primary', () => {
  const driver = (code: string, errno?: number) => Object.assign(new Error(code), { code, errno });
  const notSent = { sent: false, applied: false };
  const sent = { sent: true, applied: false };

  test('read-only refusals (1290, 1792) are DbReadOnlyError', () => {
    assert.ok(toDbError(driver('ER_OPTION_PREVENTS_STATEMENT', 1290), 'a:3306') instanceof DbReadOnlyError);
    assert.ok(toDbError(driver('ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION', 1792), 'a:3306') instanceof DbReadOnlyError);
    assert.ok(toDbError(driver('ER_DUP_ENTRY', 1062), 'a:3306') instanceof DbQueryError);
  });

  test('a read-only refusal was not executed: retried, unless a write of its transaction had applied', () => {
    const err = toDbError(driver('ER_OPTION_PREVENTS_STATEMENT', 1290), 'a:3306');
    assert.equal(mayRetryWrite(err, sent), true);
    assert.equal(mayRetryWrite(err, { sent: true, applied: true }), false);
  });

  test('a refused connection never reached the server: retried, sent or not', () => {
    const refused = toDbError(driver('ECONNREFUSED'), 'a:3306');
    assert.ok(refused instanceof DbUnavailableError);
    assert.equal(mayRetryWrite(refused, notSent), true);
    assert.equal(mayRetryWrite(refused, sent), true);
  });

  test('a connection that broke after the statement was sent: outcome unknown, not retried', () => {
    for (const code of ['ECONNRESET', 'PROTOCOL_CONNECTION_LOST', 'ER_CONNECTION_KILLED']) {
      const err = toDbError(driver(code), 'a:3306');
      assert.equal(mayRetryWrite(err, sent), false, code);
      assert.equal(mayRetryWrite(err, notSent), true, `${code} before sending`);
    }
    const timeout = new DbTimeoutError('database a:3306 did not answer within 5000 ms');
    assert.equal(mayRetryWrite(timeout, sent), false);
  });

  test("SQL errors are the caller's, never retried; two writable nodes wait for a probe", () => {
    assert.equal(mayRetryWrite(toDbError(driver('ER_DUP_ENTRY', 1062), 'a:3306'), notSent), false);
    assert.equal(mayRetryWrite(new Error('changed my mind'), notSent), false);
    const twoWritable = new DbTwoWritableError(['a:3306', 'b:3306']);
    assert.equal(twoWritable.code, 'DB_TWO_WRITABLE');
    assert.match(twoWritable.message, /refusing to write: 2 database nodes are writable \(a:3306, b:3306\)/);
  });
});

describe('PrimaryFinder (probe answers injected)', () => {
  type Node = { name: string };
  const a: Node = { name: 'a:3306' };
  const b: Node = { name: 'b:3306' };

  /** A finder over a and b whose answers the test sets; counts probes. */
  function finder(answers: Record<string, NodeProbe>) {
    const events: DbEvent[] = [];
    const promoted: string[] = [];
    let probes = 0;
    const f = new PrimaryFinder<Node>([a, b], {
      probe: async (node) => {
        probes += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return answers[node.name]!;
      },
      intervalMs: 0,
      emit: (e) => events.push(e),
      onPrimary: (node) => promoted.push(node.name),
    });
    return { f, events, promoted, probes: () => probes };
  }
  const ro = (server: string, readOnly: boolean): NodeProbe => ({ server, readOnly });

  test('callers during a round share it: one probe per node', async () => {
    const { f, probes } = finder({ 'a:3306': ro('a:3306', false), 'b:3306': ro('b:3306', true) });
    await Promise.all([f.refresh(), f.refresh(), f.writable(Date.now() + 100)]);
    assert.equal(probes(), 2);
    f.close();
  });

  test('a new primary is promoted before it is announced; a steady state announces nothing', async () => {
    const answers = { 'a:3306': ro('a:3306', false), 'b:3306': ro('b:3306', true) };
    const { f, events, promoted } = finder(answers);
    await f.refresh();
    await f.refresh();
    answers['a:3306'] = ro('a:3306', true);
    await f.refresh();
    await f.refresh();
    answers['b:3306'] = ro('b:3306', false);
    await f.refresh();
    assert.deepEqual(promoted, ['a:3306', 'b:3306']);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['primary-found', 'primary-unknown', 'primary-found'],
    );
    assert.deepEqual(events[2], { kind: 'primary-found', server: 'b:3306', previous: 'a:3306' });
    f.close();
  });

  test('writable() waits, probing, until a round finds the primary', async () => {
    const answers = { 'a:3306': ro('a:3306', true), 'b:3306': ro('b:3306', true) };
    const { f } = finder(answers);
    setTimeout(() => (answers['b:3306'] = ro('b:3306', false)), 100);
    const started = Date.now();
    assert.equal((await f.writable(started + 1000)).name, 'b:3306');
    const waited = Date.now() - started;
    assert.ok(waited >= 100 && waited < 400, `found after ${waited} ms`);
    f.close();
  });

  test('a round does not wait for a node that did not answer the last one; its late answer counts', async () => {
    const events: DbEvent[] = [];
    // a answers at once; b (a dead host) takes 300 ms to fail, then comes back writable.
    let bAnswer: NodeProbe = { server: 'b:3306', error: 'timeout' };
    let bProbes = 0;
    const f = new PrimaryFinder<Node>([a, b], {
      probe: async (node) => {
        if (node === a) return ro('a:3306', true);
        bProbes += 1;
        const answer = bAnswer;
        await new Promise((resolve) => setTimeout(resolve, 300));
        return answer;
      },
      intervalMs: 0,
      emit: (e) => events.push(e),
      onPrimary: () => {},
    });
    let started = Date.now();
    await f.refresh(); // the first round waits for every node
    assert.ok(Date.now() - started >= 290, 'the first round waits for b');
    assert.equal(f.choice.kind, 'unknown');
    started = Date.now();
    await f.refresh();
    assert.ok(Date.now() - started < 100, `the next round took ${Date.now() - started} ms`);
    await f.refresh(); // b is still being asked: not asked again
    assert.equal(bProbes, 2);
    bAnswer = ro('b:3306', false);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await f.refresh(); // asks b again; its answer arrives after the round
    assert.equal(f.choice.kind, 'unknown');
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.deepEqual(f.choice, { kind: 'found', server: 'b:3306' });
    assert.equal(events.at(-1)?.kind, 'primary-found');
    f.close();
  });

  test('writable() gives up at the deadline: DbTwoWritableError with two writable, else DbUnavailableError', async () => {
    const two = finder({ 'a:3306': ro('a:3306', false), 'b:3306': ro('b:3306', false) });
    await assert.rejects(two.f.writable(Date.now() + 150), DbTwoWritableError);
    assert.deepEqual(
      two.events.map((e) => e.kind),
      ['primary-conflict'],
    );
    assert.deepEqual(two.promoted, []);
    two.f.close();
    const none = finder({
      'a:3306': ro('a:3306', true),
      'b:3306': { server: 'b:3306', error: 'connect ECONNREFUSED' },
    });
    await assert.rejects(
      none.f.writable(Date.now() + 150),
      (err: unknown) =>
        err instanceof DbUnavailableError &&
        err.message === 'database: no writable primary (1 of 2 nodes are read-only; b:3306: connect ECONNREFUSED)',
    );
    none.f.close();
  });
});
