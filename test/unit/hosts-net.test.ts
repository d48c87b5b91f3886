import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listensIn } from '../../src/hosts/net.ts';

// Lines as the kernel prints /proc/net/tcp: little-endian hex address, hex port, state (0A = LISTEN).
const TABLE = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 0D004D0A:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
  '   1: 0E004D0A:0CEA 0D004D0A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
  '   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1',
].join('\n');

describe('listensIn (/proc/<pid>/net/tcp)', () => {
  it('finds a listening socket on the address and port', () => {
    assert.equal(listensIn(TABLE, '10.77.0.13', 3000), true);
  });

  it('counts a wildcard listener for any address', () => {
    assert.equal(listensIn(TABLE, '10.77.0.13', 80), true);
  });

  it('ignores a connection that is not listening, and a port nobody listens on', () => {
    assert.equal(listensIn(TABLE, '10.77.0.14', 3306), false);
    assert.equal(listensIn(TABLE, '10.77.0.14', 3000), false);
  });
});
