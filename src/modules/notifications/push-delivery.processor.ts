import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { backoffDelay } from '../../core/queue/backoff';
import { settleJob } from '../../core/queue/job-fate';
import { QueueWorkers } from '../../core/queue/queue-workers.service';
import { DeliveryService } from '../delivery';
import { type DevicePushOutcome, DevicePushService, PushPayload } from '../devices';
import { NotificationMetrics } from './notifications.metrics';
import { DELIVERY_QUEUE, DeliveryJob } from './notifications.jobs';
import { DISMISS_TYPE } from './notifications.service';

function expired(payload: PushPayload, now: number): boolean {
  return !!payload.ttlSeconds && payload.createdAt + payload.ttlSeconds * 1000 <= now;
}

/** Pushes to user recipients keep per-device receipts; broadcasts and dismissals keep none. */
function wantsReceipts(job: DeliveryJob): boolean {
  return !!job.receipts && job.payload.data?.type !== DISMISS_TYPE;
}

/** Each device's badge from the job (per device, or per owner in older jobs); undefined when it carries none. */
function badgesOf(job: DeliveryJob): ((deviceId: string, userId: string) => number | undefined) | undefined {
  const { deviceBadges, badges } = job;
  if (deviceBadges) {
    const byDevice = new Map<string, number>();
    job.deviceIds.forEach((id, i) => {
      const badge = deviceBadges[i];
      if (badge !== null && badge !== undefined) byDevice.set(id, badge);
    });
    return (deviceId) => byDevice.get(deviceId);
  }
  if (badges) return (_deviceId, userId) => badges[userId];
  return undefined;
}

/**
 * Delivery: hands the job's devices to the devices module and decides the job's fate from what
 * came of it: transient errors retry those devices only (the job keeps just them, then BullMQ's
 * exponential backoff with jitter); over-quota pauses the whole queue through BullMQ's rate
 * limiter; bad credentials or an invalid payload fail the job for good. A push past its TTL is
 * dropped unsent.
 */
@Injectable()
export class PushDeliveryProcessor implements OnApplicationBootstrap {
  private readonly logger = new Logger(PushDeliveryProcessor.name);
  private runner?: Worker<DeliveryJob>;

  constructor(
    private readonly push: DevicePushService,
    private readonly metrics: NotificationMetrics,
    private readonly config: AppConfig,
    private readonly workers: QueueWorkers,
    private readonly delivery: DeliveryService,
    @InjectQueue(DELIVERY_QUEUE) private readonly queue: Queue<DeliveryJob>,
  ) {}

  /** This process's delivery worker; throws in a process that runs no workers. */
  get worker(): Worker<DeliveryJob> {
    if (!this.runner) throw new Error(`no ${DELIVERY_QUEUE} worker in this process (TETHER_ROLE=${this.config.env.TETHER_ROLE})`);
    return this.runner;
  }

  onApplicationBootstrap(): void {
    const { maxJobsPerSecond, concurrency, lockMs } = this.config.push;
    this.runner = this.workers.start(this.queue, (job, worker) => this.process(job, worker), {
      concurrency,
      // Off unless asked for: a standing BullMQ limiter slows delayed retries down (see bench/).
      ...(maxJobsPerSecond ? { limiter: { max: maxJobsPerSecond, duration: 1000 } } : {}),
      lockDuration: lockMs,
      stalledInterval: lockMs,
    });
    this.runner?.on('failed', (job, err) => this.onFailed(job, err));
  }

  async process(job: Job<DeliveryJob>, worker: Worker): Promise<unknown> {
    const { payload, deviceIds, notificationId } = job.data;
    if (expired(payload, Date.now())) {
      this.metrics.dropped.inc({ reason: 'expired' }, deviceIds.length);
      return { expired: deviceIds.length };
    }
    const badges = badgesOf(job.data);
    const result = await this.push.deliver(payload, deviceIds, notificationId, {
      badgeOf: badges && ((d) => badges(d.id, d.userId)),
      outcomes: wantsReceipts(job.data),
    });
    await this.recordReceipts(job.data, result.devices);
    const { retryAttempts, retryBaseMs, maxJobsPerSecond } = this.config.push;
    let pauseMs: number | undefined;
    if (!result.fatal && result.retry.length) {
      const quotaHits = (job.data.quotaHits ?? 0) + (result.quota ? 1 : 0);
      // The retry carries its devices' badges only.
      const deviceBadges = job.data.deviceBadges && result.retry.map((id) => badges?.(id, '') ?? null);
      await job.updateData({ ...job.data, deviceIds: result.retry, ...(deviceBadges ? { deviceBadges } : {}), quotaHits });
      if (result.quota && quotaHits <= retryAttempts) pauseMs = backoffDelay(quotaHits, retryBaseMs);
    }
    // FCM's quota is per project, so every worker of every pod holds off: nothing starts for
    // pauseMs, then (unless a ceiling is configured) one job per pauseMs probes FCM until a job
    // that had hit the quota goes through and lifts the limit.
    if (pauseMs !== undefined && !maxJobsPerSecond) await this.queue.setGlobalRateLimit(1, pauseMs);
    await settleJob(worker, {
      fatal: result.fatal && `${result.fatal.code}: ${result.fatal.message}`,
      pauseMs,
      retry: result.retry.length ? `${result.retry.length} device(s) to retry (${result.retryCodes.join(', ')})` : undefined,
    });
    // A job that had hit the quota went through: FCM takes messages again, end the slow-down.
    if (job.data.quotaHits && !maxJobsPerSecond) await this.queue.removeGlobalRateLimit();
    return { sent: result.sent, deactivated: result.deactivated };
  }

  /**
   * Per-device receipts (GET .../deliveries) of pushes to user recipients: a message push is the
   * message's, any other the notification's; broadcasts and dismissals keep none. Best effort: a receipt is not worth a second push.
   */
  private async recordReceipts(job: DeliveryJob, devices: DevicePushOutcome[]): Promise<void> {
    const data = job.payload.data ?? {};
    if (!wantsReceipts(job) || !devices.length) return;
    const [kind, subjectId] =
      data.type === 'message' && data.messageId ? (['message', data.messageId] as const) : (['notification', job.notificationId] as const);
    await this.delivery
      .recordPush(job.tenantId, kind, subjectId, devices)
      .catch((err: Error) => this.logger.warn(`receipts of notification ${job.notificationId}: ${err.message}`));
  }

  private onFailed(job: Job<DeliveryJob> | undefined, err: Error): void {
    if (!job || err instanceof UnrecoverableError || err.name === 'UnrecoverableError') return;
    if (job.attemptsMade >= (job.opts.attempts ?? 1)) {
      this.push.abandoned(job.data.deviceIds.length);
      this.logger.error(`gave up on ${job.data.deviceIds.length} device(s) of notification ${job.data.notificationId}: ${err.message}`);
    }
  }
}
