/** The engine's own config checker for a unit, when the engine has one. */
import { haproxyEngine } from '../engines/haproxy.ts';
import { mariadbEngine } from '../engines/mariadb.ts';
import { nginxEngine } from '../engines/nginx.ts';
import type { ServiceUnit } from './services.ts';

export function checkCommandOf(unit: ServiceUnit): string[] | undefined {
  switch (unit.service.kind) {
    case 'haproxy':
      return haproxyEngine.checkCommand(unit.paths);
    case 'nginx':
      return nginxEngine.checkCommand(unit.paths);
    case 'mariadb':
      return mariadbEngine.checkCommand(unit.paths);
    default:
      return undefined;
  }
}
