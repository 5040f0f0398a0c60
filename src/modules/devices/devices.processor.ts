import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { backoffDelay } from '../../core/queue/backoff';
import { QueueRegistry } from '../../core/queue/queue-registry.service';
import { QueueWorkers, workerOptions } from '../../core/queue/queue-workers.service';
import { DeviceTopicsService, UnsubscribeJob } from './device-topics.service';
import {
  DEVICES_QUEUE,
  DEVICES_QUEUE_LIMIT,
  JOB_EXPO_RECEIPTS,
  JOB_MAINTENANCE,
  JOB_SYNC_TOPICS,
  JOB_UNSUBSCRIBE,
  MAINTENANCE_EVERY_MS,
} from './devices.constants';
import { DevicesService } from './devices.service';
import { ExpoReceiptsService } from './expo-receipts.service';
import type { PushFailureKind } from './push/push-sender';

/** Worker of the low-rate devices queue: topic subscriptions, Expo receipts and the repeatable maintenance job. */
@Processor(DEVICES_QUEUE, workerOptions(DEVICES_QUEUE))
export class DevicesProcessor extends WorkerHost implements OnApplicationBootstrap {
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
    super();
    queues.track(queue);
    workers.configure(this, DEVICES_QUEUE, {
      concurrency: 1,
      limiter: DEVICES_QUEUE_LIMIT,
      lockDuration: config.push.lockMs,
      stalledInterval: config.push.lockMs,
    });
  }

  onApplicationBootstrap(): void {
    if (!this.workers.enabled) return;
    // Not awaited: with Redis away, boot must not hang; BullMQ sends it once Redis is back.
    this.queue
      .upsertJobScheduler('device-maintenance', { every: MAINTENANCE_EVERY_MS }, { name: JOB_MAINTENANCE })
      .catch((err: Error) => this.logger.warn(`could not schedule device maintenance: ${err.message}`));
  }

  async process(job: Job): Promise<unknown> {
    switch (job.name) {
      case JOB_SYNC_TOPICS: {
        const { failures, more } = await this.topics.syncPending();
        await this.throwFor(failures, job, 'topic subscriptions');
        if (more) await this.topics.scheduleSync(0);
        return { more };
      }
      case JOB_UNSUBSCRIBE: {
        const data = job.data as UnsubscribeJob;
        const { retry, failures } = await this.topics.unsubscribe(data);
        if (retry.length) await job.updateData({ ...data, tokens: retry });
        await this.throwFor(failures, job, 'topic unsubscriptions');
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

  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`devices worker: ${err.message}`);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, err: Error): void {
    if (err instanceof UnrecoverableError || err.name === 'UnrecoverableError') this.logger.error(`${job?.name} ${job?.id} failed for good: ${err.message}`);
  }

  /** Config errors fail for good; quota errors pause the queue; other transient ones retry with backoff. */
  private async throwFor(failures: Set<PushFailureKind>, job: Job, what: string): Promise<void> {
    if (failures.has('config'))
      throw new UnrecoverableError(`${what}: the provider refused the credentials; fix the push configuration`);
    if (failures.has('quota')) {
      await this.worker.rateLimit(backoffDelay(job.attemptsStarted, this.config.push.retryBaseMs));
      throw Worker.RateLimitError();
    }
    if (failures.has('retry')) throw new Error(`${what}: transient provider errors, retrying`);
  }
}
