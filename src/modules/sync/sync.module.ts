import { Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../../config/app-config';
import { BulkSizeGuard } from './bulk-size.guard';
import { SyncMutation } from './entities/sync-mutation.entity';
import { SyncPurgeMark } from './entities/sync-purge-mark.entity';
import { SyncResumeMark } from './entities/sync-resume-mark.entity';
import { SyncMutationService } from './sync-mutation.service';
import { SyncController } from './sync.controller';
import { SyncRegistry } from './sync.registry';
import { SyncRepository } from './sync.repository';
import { SyncService } from './sync.service';
import { SYNC_LIMITS_LOCAL, SyncLimits } from './sync.throttle';

/**
 * Offline sync, domain-free: the change feed (GET /sync/<collection>, GET /sync/changes), the bulk
 * mutation engine with its idempotency ledger, tombstone purging. Domain modules register their
 * collections and mutation kinds with SyncRegistry and expose their bulk routes through
 * SyncMutationService.
 */
@Module({
  imports: [TypeOrmModule.forFeature([SyncMutation, SyncPurgeMark, SyncResumeMark])],
  controllers: [SyncController],
  providers: [SyncRegistry, SyncRepository, SyncService, SyncMutationService, BulkSizeGuard],
  exports: [SyncRegistry, SyncService, SyncMutationService, BulkSizeGuard],
})
export class SyncModule implements OnModuleInit {
  constructor(
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const limits: SyncLimits = { reads: this.config.sync.readsPerMinute, bulk: this.config.sync.bulkPerMinute };
    const app = this.adapterHost.httpAdapter?.getInstance<{ locals?: Record<string, unknown> }>();
    if (app?.locals) app.locals[SYNC_LIMITS_LOCAL] = limits;
  }
}
