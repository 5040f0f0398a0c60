import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { backoffDelay } from '../../core/queue/backoff';
import { QueueWorkers, workerOptions } from '../../core/queue/queue-workers.service';
import { DeliverableDevice, DevicesService, TicketToCheck } from '../devices/devices.service';
import { chunk, DevicePlatform, PushFailure, PushPayload, PushTarget } from '../devices/push/push-sender';
import { PushSenders } from '../devices/push/push-senders';
import { DELIVERY_QUEUE } from './notifications.constants';
import type { DeliveryJob } from './notifications.processor';
import { PushMetrics } from './push.metrics';

function expired(payload: PushPayload, now: number): boolean {
  return !!payload.ttlSeconds && payload.createdAt + payload.ttlSeconds * 1000 <= now;
}

/**
 * Delivery: reads the job's devices (still active ones only), sends through each device's
 * provider, and acts on every token's outcome: dead tokens deactivate their device at once;
 * transient errors retry those devices only (the job keeps just them, then BullMQ's exponential
 * backoff with jitter); over-quota pauses the whole queue through BullMQ's rate limiter; bad
 * credentials or an invalid payload fail the job for good, keeping the tokens, and are logged loudly.
 * Pushes accepted with a receipt to read later (Expo tickets) are handed to the devices module.
 */
@Processor(DELIVERY_QUEUE, workerOptions(DELIVERY_QUEUE))
export class PushDeliveryProcessor extends WorkerHost {
  private readonly logger = new Logger(PushDeliveryProcessor.name);

  constructor(
    private readonly devices: DevicesService,
    private readonly senders: PushSenders,
    private readonly metrics: PushMetrics,
    private readonly config: AppConfig,
    @InjectQueue(DELIVERY_QUEUE) private readonly queue: Queue,
    workers: QueueWorkers,
  ) {
    super();
    const { maxJobsPerSecond } = config.push;
    workers.configure(this, DELIVERY_QUEUE, {
      concurrency: config.push.concurrency,
      // Off unless asked for: a standing BullMQ limiter slows delayed retries down (see bench/).
      ...(maxJobsPerSecond ? { limiter: { max: maxJobsPerSecond, duration: 1000 } } : {}),
      lockDuration: config.push.lockMs,
      stalledInterval: config.push.lockMs,
    });
  }

  async process(job: Job<DeliveryJob>): Promise<unknown> {
    const { payload } = job.data;
    if (expired(payload, Date.now())) {
      this.metrics.dropped.inc({ reason: 'expired' }, job.data.deviceIds.length);
      return { expired: job.data.deviceIds.length };
    }
    const devices = await this.devices.findDeliverable(job.data.deviceIds);
    const byProvider = new Map<string, DeliverableDevice[]>();
    for (const d of devices) byProvider.set(d.provider, [...(byProvider.get(d.provider) ?? []), d]);

    let sent = 0;
    const dead = new Map<string, string[]>();
    const retry: { id: string; code: string }[] = [];
    const tickets: TicketToCheck[] = [];
    let quota = false;
    let fatal: PushFailure | undefined;
    for (const [provider, group] of byProvider) {
      const sender = this.senders.for(provider);
      for (const part of chunk(group, sender.maxBatch)) {
        const stop = this.metrics.sendDuration.startTimer({ provider });
        const outcomes = await sender.send(
          payload,
          part.map((d): PushTarget => ({ token: d.token, platform: d.platform as DevicePlatform })),
        );
        stop();
        let sentHere = 0;
        outcomes.forEach((outcome, i) => {
          const device = part[i];
          if (outcome.ok) {
            if (outcome.receiptId) tickets.push({ id: outcome.receiptId, deviceId: device.id, notificationId: job.data.notificationId });
            return void sentHere++;
          }
          switch (outcome.kind) {
            case 'token':
              dead.set(outcome.code, [...(dead.get(outcome.code) ?? []), device.id]);
              break;
            case 'quota':
              quota = true;
              retry.push({ id: device.id, code: outcome.code });
              break;
            case 'retry':
              retry.push({ id: device.id, code: outcome.code });
              break;
            default:
              fatal ??= outcome;
              this.metrics.failed.inc({ reason: outcome.code });
          }
        });
        this.metrics.sent.inc({ provider }, sentHere);
        sent += sentHere;
      }
    }

    // Accepted pushes whose delivery the provider confirms later (Expo receipts), even if this job retries.
    await this.devices.awaitReceipts(tickets);
    let deactivated = 0;
    for (const [code, ids] of dead) {
      this.metrics.failed.inc({ reason: code }, ids.length);
      deactivated += await this.devices.deactivate(ids, code);
    }
    if (fatal) {
      this.logger.error(
        `push of notification ${job.data.notificationId} refused (${fatal.kind} error ${fatal.code}): ${fatal.message}. ` +
          (fatal.kind === 'config' ? 'Check the Firebase credentials and APNs keys (or EXPO_ACCESS_TOKEN and the credentials uploaded to Expo); tokens are kept.' : 'The payload is invalid; tokens are kept.'),
      );
      throw new UnrecoverableError(`${fatal.code}: ${fatal.message}`);
    }
    if (retry.length) {
      for (const r of retry) this.metrics.retried.inc({ reason: r.code });
      const quotaHits = (job.data.quotaHits ?? 0) + (quota ? 1 : 0);
      await job.updateData({ ...job.data, deviceIds: retry.map((r) => r.id), quotaHits });
      if (quota && quotaHits <= this.config.push.retryAttempts) await this.pauseForQuota(backoffDelay(quotaHits, this.config.push.retryBaseMs));
      throw new Error(`${retry.length} device(s) to retry (${[...new Set(retry.map((r) => r.code))].join(', ')})`);
    }
    // A job that had hit the quota went through: FCM takes messages again, end the slow-down.
    if (job.data.quotaHits && !this.config.push.maxJobsPerSecond) await this.queue.removeGlobalRateLimit();
    return { sent, deactivated };
  }

  /**
   * FCM's quota is per project, so every worker of every pod holds off, through BullMQ's rate
   * limiter: nothing starts for `delayMs`, then (unless a ceiling is configured) one job per
   * `delayMs` probes FCM until a job that had hit the quota goes through and lifts the limit.
   */
  private async pauseForQuota(delayMs: number): Promise<never> {
    if (!this.config.push.maxJobsPerSecond) await this.queue.setGlobalRateLimit(1, delayMs);
    await this.worker.rateLimit(delayMs);
    throw Worker.RateLimitError();
  }

  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`delivery worker: ${err.message}`);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<DeliveryJob> | undefined, err: Error): void {
    if (!job || err instanceof UnrecoverableError || err.name === 'UnrecoverableError') return;
    if (job.attemptsMade >= (job.opts.attempts ?? 1)) {
      this.metrics.failed.inc({ reason: 'retries_exhausted' }, job.data.deviceIds.length);
      this.logger.error(`gave up on ${job.data.deviceIds.length} device(s) of notification ${job.data.notificationId}: ${err.message}`);
    }
  }
}
