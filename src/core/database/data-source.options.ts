import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';

/** Project root: two levels above this folder in src/, three in dist/src/. */
const root = join(__dirname, '..', '..', '..');

/**
 * The one DataSource definition, shared by the app (TypeOrmModule) and the TypeORM CLI
 * (data-source.ts). Schema changes only ever happen through migrations/.
 */
export function dataSourceOptions(url: string, poolSize = 10, connectTimeoutMs = 5000): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: [join(root, 'src', '**', '*.entity.{ts,js}')],
    migrations: [join(root, 'migrations', '*.{ts,js}')],
    migrationsTableName: 'migrations',
    synchronize: false,
    // connectionTimeoutMillis bounds both opening a connection and waiting for a free one in the
    // pool: with PostgreSQL away a request fails (503 database_unavailable) instead of hanging.
    // Broken connections leave the pool on their own (pg-pool), new ones are opened on demand.
    extra: { max: poolSize, application_name: 'tether', connectionTimeoutMillis: connectTimeoutMs, keepAlive: true },
  };
}
