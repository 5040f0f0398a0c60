import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';

/** Project root: two levels above this folder in src/, three in dist/src/. */
const root = join(__dirname, '..', '..', '..');

/**
 * The one DataSource definition, shared by the app (TypeOrmModule) and the TypeORM CLI
 * (data-source.ts). Schema changes only ever happen through migrations/.
 */
export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: [join(root, 'src', '**', '*.entity.{ts,js}')],
    migrations: [join(root, 'migrations', '*.{ts,js}')],
    migrationsTableName: 'migrations',
    synchronize: false,
    extra: { max: poolSize, application_name: 'tether' },
  };
}
