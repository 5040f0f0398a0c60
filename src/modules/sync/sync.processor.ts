import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Queue } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { QueueWorkers } from '../../core/queue/queue-workers.service';
import { JOB_PURGE, SYNC_QUEUE } from './sync.jobs';
import { SyncService } from './sync.service';

/** Runs the purge every SYNC_PURGE_INTERVAL_MIN, first one interval after the schedule is set up. */
@Injectable()
export class SyncProcessor implements OnApplicationBootstrap {
  private readonly logger = new Logger(SyncProcessor.name);

  constructor(
    private readonly sync: SyncService,
    private readonly config: AppConfig,
    private readonly workers: QueueWorkers,
    @InjectQueue(SYNC_QUEUE) private readonly queue: Queue,
  ) {}

  onApplicationBootstrap(): void {
    // A failed purge is not retried: the next run does its work.
    const worker = this.workers.start(this.queue, () => this.sync.purge(), { concurrency: 1 }, { system: true });
    worker?.on('failed', (_job, err) => this.logger.error(`tombstone purge failed: ${err.message}`));
    this.workers.repeat(this.queue, JOB_PURGE, this.config.sync.purgeIntervalMs, { firstRunAfterInterval: true });
  }
}
