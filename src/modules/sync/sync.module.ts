import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueModule, registerQueues } from '../../core/queue/queue.module';
import { BulkSizeGuard } from './bulk-size.guard';
import { SyncMutation } from './entities/sync-mutation.entity';
import { SyncPurgeMark } from './entities/sync-purge-mark.entity';
import { SyncResumeMark } from './entities/sync-resume-mark.entity';
import { SyncMutationService } from './sync-mutation.service';
import { SyncController } from './sync.controller';
import { SyncMetrics } from './sync.metrics';
import { SYNC_QUEUE } from './sync.jobs';
import { SyncProcessor } from './sync.processor';
import { SyncRegistry } from './sync.registry';
import { SyncRepository } from './sync.repository';
import { SyncService } from './sync.service';

/**
 * Offline sync, domain-free: the change feed (GET /sync/<collection>, GET /sync/changes), the bulk
 * mutation engine with its idempotency ledger, tombstone purging (a periodic job on the sync
 * queue), the sync rate limits (SyncThrottle). Domain modules register their collections and
 * mutation kinds with SyncRegistry and expose their bulk routes through SyncMutationService.
 */
@Module({
  imports: [QueueModule, registerQueues(SYNC_QUEUE), TypeOrmModule.forFeature([SyncMutation, SyncPurgeMark, SyncResumeMark])],
  controllers: [SyncController],
  providers: [SyncRegistry, SyncRepository, SyncService, SyncMutationService, SyncProcessor, BulkSizeGuard, SyncMetrics],
  exports: [SyncRegistry, SyncService, SyncMutationService, BulkSizeGuard],
})
export class SyncModule {}
