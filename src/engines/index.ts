import { haproxyEngine } from './haproxy.ts';
import { mariadbEngine } from './mariadb.ts';
import { nginxEngine } from './nginx.ts';
import type { Engine } from './types.ts';

export type { MariadbEngine } from './mariadb.ts';
export type { NginxEngine } from './nginx.ts';
export type { Engine, EngineBinary } from './types.ts';
export { haproxyEngine, mariadbEngine, nginxEngine };

/** The engine behind each service kind that runs a third-party program (the app is tandem's own). */
export const engines: Readonly<Record<'haproxy' | 'nginx' | 'mariadb', Engine>> = {
  haproxy: haproxyEngine,
  nginx: nginxEngine,
  mariadb: mariadbEngine,
};
