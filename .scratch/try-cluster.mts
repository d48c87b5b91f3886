import { startCluster } from '/work/main/test/support/mariadb.ts';
const t = Date.now();
const c = await startCluster({ primaryAddress: '127.61.9.11', replicaAddress: '127.61.9.12', database: 't', user: 'app', password: 'pw', userHost: '127.61.9.%' });
console.log('up in', Date.now() - t, c.root);
console.log(await c.replica.sql('SELECT @@gtid_slave_pos, @@read_only') .then(s => s.split('\n').filter(l => /Running|Gtid_IO|Error/.test(l)).join('\n')));
await c.destroy();
