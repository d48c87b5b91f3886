/**
 * `down` stops a service only once every running service that starts after it has
 * stopped; services that do not depend on each other stop side by side.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stopAfter } from '../../src/orchestrate/down.ts';

const services = [
  { id: 'server-1/mariadb', after: [] },
  { id: 'server-1/app', after: ['server-1/mariadb'] },
  { id: 'server-1/nginx', after: ['server-1/app'] },
  { id: 'lb-1/haproxy', after: ['server-1/nginx'] },
  { id: 'lb-1/keepalived', after: ['lb-1/haproxy'] },
  { id: 'lb-2/keepalived', after: ['lb-1/haproxy'] },
  { id: 'server-1/node-exporter', after: [] },
];

describe('down: what each service stops after', () => {
  it('every running service that starts after it, directly or not; nothing else', () => {
    const all = new Set(services.map((s) => s.id));
    const order = stopAfter(services, all);
    assert.deepEqual(order.get('lb-1/keepalived'), []);
    assert.deepEqual(order.get('lb-2/keepalived'), []);
    assert.deepEqual(order.get('lb-1/haproxy')!.sort(), ['lb-1/keepalived', 'lb-2/keepalived']);
    assert.deepEqual(order.get('server-1/mariadb')!.sort(), [
      'lb-1/haproxy',
      'lb-1/keepalived',
      'lb-2/keepalived',
      'server-1/app',
      'server-1/nginx',
    ]);
    assert.deepEqual(order.get('server-1/node-exporter'), []);
  });

  it('through a service that is not running; only running services get a stop', () => {
    const running = new Set(['server-1/mariadb', 'server-1/nginx', 'lb-1/keepalived']);
    const order = stopAfter(services, running);
    assert.deepEqual([...order.keys()].sort(), ['lb-1/keepalived', 'server-1/mariadb', 'server-1/nginx']);
    assert.deepEqual(order.get('server-1/mariadb')!.sort(), ['lb-1/keepalived', 'server-1/nginx']);
    assert.deepEqual(order.get('server-1/nginx'), ['lb-1/keepalived']);
  });
});
