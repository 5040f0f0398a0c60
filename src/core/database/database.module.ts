import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../../config/app-config';
import { dataSourceOptions } from './data-source.options';
import { DatabaseMetrics } from './database.metrics';
import { ensureDatabase } from './ensure-database';
import { Tenant } from './entities/tenant.entity';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: async (config: AppConfig) => {
        const { url, autoMigrate, poolSize, connectTimeoutMs } = config.database;
        if (autoMigrate) await ensureDatabase(url);
        return {
          ...dataSourceOptions(url, poolSize, connectTimeoutMs),
          entities: undefined,
          autoLoadEntities: true,
          migrationsRun: autoMigrate,
          // Fail fast at boot instead of retrying for minutes: the orchestrator restarts us.
          retryAttempts: 2,
          retryDelay: 1000,
        };
      },
    }),
    TypeOrmModule.forFeature([Tenant]),
  ],
  providers: [DatabaseMetrics],
  exports: [TypeOrmModule],
})
export class DatabaseModule {}
