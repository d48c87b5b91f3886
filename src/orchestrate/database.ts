/**
 * Database set-up and inspection, one job per module in database/: admin SQL over the
 * socket (sql.ts), instances and their data directories (instance.ts), users and grants
 * (users.ts), GTID replication (replication.ts), semi-sync (semi-sync.ts), the app's
 * migrations (migrations.ts) and replication state for `status` (positions.ts).
 */
export { dbPaths, dbService, initialise, isInitialised } from './database/instance.ts';
export { migrate } from './database/migrations.ts';
export { type DbPosition, dbPositions } from './database/positions.ts';
export { attachReplica, attachStatements, type ReplicaStatus, replicaStatus } from './database/replication.ts';
export { enableSemiSync, waitForSemiSync } from './database/semi-sync.ts';
export { lit, pingable, type Row, sql } from './database/sql.ts';
export { bootstrapPrimary, type DbUserPasswords, nativePasswordHash, userStatements } from './database/users.ts';
