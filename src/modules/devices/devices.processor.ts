import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { backoffDelay } from '../../core/queue/backoff';
import { settleJob } from '../../core/queue/job-fate';
import { QueueRegistry } from '../../core/queue/queue-registry.service';
import { QueueWorkers } from '../../core/queue/queue-workers.service';
import { DeviceTopicsService } from './device-topics.service';
import {
  DEVICES_QUEUE,
  DEVICES_QUEUE_LIMIT,
  JOB_EXPO_RECEIPTS,
  JOB_MAINTENANCE,
  JOB_SYNC_TOPICS,
  JOB_UNSUBSCRIBE,
  MAINTENANCE_EVERY_MS,
  MAINTENANCE_SCHEDULER,
  UnsubscribeJob,
} from './devices.jobs';
import { DevicesService } from './devices.service';
import { ExpoReceiptsService } from './expo-receipts.service';
import type { PushFailureKind } from './push/push-sender';

/** Worker of the low-rate devices queue: topic subscriptions, Expo receipts and the repeatable maintenance job. */
@Injectable()
export class DevicesProcessor implements OnApplicationBootstrap {
  private readonly logger = new Logger(DevicesProcessor.name);

  constructor(
    private readonly devices: DevicesService,
    private readonly topics: DeviceTopicsService,
    private readonly receipts: ExpoReceiptsService,
    private readonly config: AppConfig,
    private readonly workers: QueueWorkers,
    @InjectQueue(DEVICES_QUEUE) private readonly queue: Queue,
    queues: QueueRegistry,
  ) {
    queues.track(queue);
  }

  onApplicationBootstrap(): void {
    const worker = this.workers.start(
      this.queue,
      (job, w) => this.process(job, w),
      {
        concurrency: 1,
        limiter: DEVICES_QUEUE_LIMIT,
        lockDuration: this.config.push.lockMs,
        stalledInterval: this.config.push.lockMs,
      },
      { system: true },
    ); // topic syncs, Expo receipts and maintenance: every tenant's devices
    worker?.on('failed', (job, err) => {
      if (err instanceof UnrecoverableError || err.name === 'UnrecoverableError')
        this.logger.error(`${job?.name} ${job?.id} failed for good: ${err.message}`);
    });
    this.workers.repeat(this.queue, JOB_MAINTENANCE, MAINTENANCE_EVERY_MS, { schedulerId: MAINTENANCE_SCHEDULER });
  }

  async process(job: Job, worker: Worker): Promise<unknown> {
    switch (job.name) {
      case JOB_SYNC_TOPICS: {
        const { failures, more } = await this.topics.syncPending();
        await this.settle(worker, job, failures, 'topic subscriptions');
        if (more) await this.topics.scheduleSync(0);
        return { more };
      }
      case JOB_UNSUBSCRIBE: {
        const data = job.data as UnsubscribeJob;
        const { retry, failures } = await this.topics.unsubscribe(data);
        if (retry.length) await job.updateData({ ...data, tokens: retry });
        await this.settle(worker, job, failures, 'topic unsubscriptions');
        return { unsubscribed: data.tokens.length - retry.length };
      }
      case JOB_EXPO_RECEIPTS: {
        const round = await this.receipts.checkDue();
        if (round.retry) throw new Error('Expo receipts: transient errors, retrying');
        await this.receipts.scheduleNext();
        return round;
      }
      case JOB_MAINTENANCE:
        return { ...(await this.devices.maintain()), expiredTickets: await this.receipts.sweep() };
      default:
        throw new UnrecoverableError(`unknown job ${job.name}`);
    }
  }

  /** Refused credentials fail for good; a quota pauses the queue; other transient failures retry with backoff. */
  private settle(worker: Worker, job: Job, failures: Set<PushFailureKind>, what: string): Promise<void> {
    return settleJob(worker, {
      fatal: failures.has('config') ? `${what}: the provider refused the credentials; fix the push configuration` : undefined,
      pauseMs: failures.has('quota') ? backoffDelay(job.attemptsStarted, this.config.push.retryBaseMs) : undefined,
      retry: failures.has('retry') ? `${what}: transient provider errors, retrying` : undefined,
    });
  }
}
