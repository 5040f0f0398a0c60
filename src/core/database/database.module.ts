import { Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { AppConfig } from '../../config/app-config';
import { dataSourceOptions } from './data-source.options';
import { DatabaseMetrics } from './database.metrics';
import { ensureDatabase } from './ensure-database';
import { Tenant } from './entities/tenant.entity';
import { enforceRowLevelSecurity, RowLevelSecurityOptions } from './row-level-security';

/** DB_ROW_LEVEL_SECURITY and DB_APP_USER, from useFactory to dataSourceFactory (which gets the options only). */
let rls: RowLevelSecurityOptions | undefined;

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: async (config: AppConfig) => {
        const { url, autoMigrate, poolSize, connectTimeoutMs, rowLevelSecurity, appLogin } = config.database;
        rls = rowLevelSecurity ? { appLogin } : undefined;
        if (autoMigrate) await ensureDatabase(url);
        return {
          ...dataSourceOptions(url, poolSize, connectTimeoutMs),
          entities: undefined,
          autoLoadEntities: true,
          // Migrations run in initialize(), as the login role: before row-level security applies to the pool.
          migrationsRun: autoMigrate,
          // Fail fast at boot instead of retrying for minutes: the orchestrator restarts us.
          retryAttempts: 2,
          retryDelay: 1000,
        };
      },
      dataSourceFactory: async (options) => {
        const ds = await new DataSource(options!).initialize();
        if (rls) enforceRowLevelSecurity((ds.driver as PostgresDriver).master as Pool, rls);
        else
          new Logger('Database').warn('DB_ROW_LEVEL_SECURITY=off: queries run as the login role, tenant isolation rests on the code alone');
        return ds;
      },
    }),
    TypeOrmModule.forFeature([Tenant]),
  ],
  providers: [DatabaseMetrics],
  exports: [TypeOrmModule],
})
export class DatabaseModule {}
