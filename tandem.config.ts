import { defineStack } from './src/config/index.ts';

// The textbook design: one load balancer, two servers each running nginx, the
// foobar.com app and MariaDB (primary on server-2, replica on server-1).
export default defineStack({
  domain: 'foobar.com',
  aliases: ['www'],
  lb: { balance: 'roundrobin', mode: 'active-active' },
  database: { primary: 'server-2' },
});
