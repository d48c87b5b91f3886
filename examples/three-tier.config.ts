import { defineStack } from '../src/config/index.ts';

// The three-tier variant: web, app and database each on their own hosts.
export default defineStack({
  name: 'threetier',
  stateDir: '../.tandem-three-tier',
  network: { subnet: '10.78.0.0/24' },
  hosts: [
    { name: 'lb-1', roles: ['lb'] },
    { name: 'web-1', roles: ['web'] },
    { name: 'web-2', roles: ['web'] },
    { name: 'app-1', roles: ['app'] },
    { name: 'app-2', roles: ['app'] },
    { name: 'db-1', roles: ['db'] },
    { name: 'db-2', roles: ['db'] },
    { name: 'monitor', roles: ['monitor'] },
  ],
  database: { primary: 'db-1' },
});
