import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { backoffDelay, retryOptions } from '../../core/queue/backoff';
import { QueueRegistry } from '../../core/queue/queue-registry.service';
import { QueueWorkers, workerOptions } from '../../core/queue/queue-workers.service';
import { DevicesService, RecipientSelector } from '../devices/devices.service';
import type { PushPayload, PushPriority } from '../devices/push/push-sender';
import { PushSenders } from '../devices/push/push-senders';
import { Category, DELIVERY_BATCH, DELIVERY_QUEUE, FANOUT_PAGE, NOTIFICATIONS_QUEUE } from './notifications.constants';
import { NotificationsRepository, StoredNotification } from './notifications.repository';
import type { FanoutJob } from './notifications.service';
import { verdict, Verdict } from './preferences';
import { PushMetrics } from './push.metrics';

/** A delivery job: at most DELIVERY_BATCH devices of one notification (ids only; tokens are read fresh). */
export interface DeliveryJob {
  notificationId: string;
  tenantId: string;
  deviceIds: string[];
  payload: PushPayload;
  /** Times the provider answered "over quota" for this job (those pauses do not use up attempts). */
  quotaHits?: number;
}

interface FanoutProgress {
  /** Last device id paged. */
  after: string | null;
  /** Delivery jobs enqueued so far (their ids are `d-<notification>-<index>`). */
  chunks: number;
  /** Devices kept for the next delivery job. */
  pending: string[];
  /** A topic notification's FCM topic send is done (a retry only resumes the Expo fan-out). */
  topicSent?: boolean;
}

/** The push as devices get it: title and body, the caller's data plus the notification id and category. */
export function payloadOf(n: StoredNotification): PushPayload {
  return {
    ...(n.title ? { title: n.title } : {}),
    ...(n.body ? { body: n.body } : {}),
    data: { ...n.data, notificationId: n.id, category: n.category },
    priority: n.priority as PushPriority,
    ...(n.collapseKey ? { collapseKey: n.collapseKey } : {}),
    ...(n.ttlSeconds !== null ? { ttlSeconds: n.ttlSeconds } : {}),
    createdAt: new Date(n.createdAt).getTime(),
  };
}

/**
 * Fan-out: resolves a notification's recipients to active devices page by page (keyset on id),
 * drops those whose owner's preferences mute it now, and enqueues delivery jobs of at most 500
 * devices, so that a whole-tenant notification spreads over every worker. Progress is saved in the
 * job after each page: a retried fan-out resumes where it stopped and re-adds no delivery job.
 * Topic recipients are one FCM topic send instead, plus a fan-out to the Expo devices of the
 * topic's audience (tenant or role topics), since Expo has no topics.
 */
@Processor(NOTIFICATIONS_QUEUE, workerOptions(NOTIFICATIONS_QUEUE))
export class NotificationsProcessor extends WorkerHost {
  private readonly logger = new Logger(NotificationsProcessor.name);

  constructor(
    private readonly repo: NotificationsRepository,
    private readonly devices: DevicesService,
    private readonly senders: PushSenders,
    private readonly metrics: PushMetrics,
    private readonly config: AppConfig,
    @InjectQueue(DELIVERY_QUEUE) private readonly delivery: Queue,
    workers: QueueWorkers,
    queues: QueueRegistry,
  ) {
    super();
    queues.track(delivery);
    workers.configure(this, NOTIFICATIONS_QUEUE, {
      concurrency: 2,
      lockDuration: config.push.lockMs,
      stalledInterval: config.push.lockMs,
    });
  }

  async process(job: Job<FanoutJob & { progress?: FanoutProgress }>): Promise<unknown> {
    const n = await this.repo.find(job.data.notificationId);
    if (!n) return { skipped: 'notification not found' };
    if (n.status === 'dispatched') return { skipped: 'already dispatched' };
    const payload = payloadOf(n);
    const recipients = n.recipients as { userIds?: string[]; roles?: string[]; topic?: string; tenant?: boolean; viaTopic?: boolean };
    const progress: FanoutProgress = job.data.progress ?? { after: null, chunks: 0, pending: [] };

    if (recipients.topic !== undefined || recipients.viaTopic) {
      const topic = recipients.topic !== undefined ? this.devices.topicFor(n.tenantId, recipients.topic) : this.devices.tenantTopic(n.tenantId);
      if (!progress.topicSent) {
        await this.sendToTopic(job, payload, topic);
        progress.topicSent = true;
        await job.updateData({ notificationId: n.id, progress });
      }
      // Expo has no topics: its devices in the topic's audience (tenant, role) get the push one by one.
      const audience = this.devices.topicAudienceWithoutTopics(n.tenantId, topic);
      const fanout = audience ? await this.fanOut(job, n, payload, audience, progress) : {};
      await this.repo.markDispatched(n.id);
      return { topic, ...fanout };
    }

    const selector: RecipientSelector = recipients.userIds
      ? { userIds: recipients.userIds }
      : recipients.roles
        ? { roles: recipients.roles }
        : { all: true };
    const result = await this.fanOut(job, n, payload, selector, progress);
    await this.repo.markDispatched(n.id);
    return result;
  }

  /** Pages the selected devices, applies their owners' preferences and enqueues delivery jobs (see the class comment). */
  private async fanOut(
    job: Job<FanoutJob & { progress?: FanoutProgress }>,
    n: StoredNotification,
    payload: PushPayload,
    selector: RecipientSelector,
    progress: FanoutProgress,
  ): Promise<{ deliveryJobs: number; dropped: Partial<Record<Verdict, number>> }> {
    const now = new Date();
    const dropped: Partial<Record<Verdict, number>> = {};
    const pageAfter = (after: string | null) => {
      const page = this.devices.pageRecipients(n.tenantId, selector, after, FANOUT_PAGE);
      page.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      return page;
    };
    let next = pageAfter(progress.after);
    for (;;) {
      const page = await next;
      const last = page.length < FANOUT_PAGE;
      // Read the next page while this one is filtered and enqueued.
      if (!last) next = pageAfter(page[page.length - 1].id);
      const rules = await this.repo.preferencesOf(n.tenantId, [...new Set(page.map((d) => d.userId))]);
      const verdicts = new Map<string, Verdict>();
      for (const device of page) {
        let v: Verdict = 'send';
        const own = rules.get(device.userId);
        if (own) {
          v = verdicts.get(device.userId) ?? verdict(own, n.category as Category, payload.priority, now);
          verdicts.set(device.userId, v);
        }
        if (v === 'send') progress.pending.push(device.id);
        else dropped[v] = (dropped[v] ?? 0) + 1;
      }
      const batches: string[][] = [];
      while (progress.pending.length >= DELIVERY_BATCH || (last && progress.pending.length))
        batches.push(progress.pending.splice(0, DELIVERY_BATCH));
      await this.enqueueDeliveries(n, payload, batches, progress.chunks);
      progress.chunks += batches.length;
      if (page.length) progress.after = page[page.length - 1].id;
      if (last) break;
      await job.updateData({ notificationId: n.id, progress });
    }
    for (const [reason, count] of Object.entries(dropped)) this.metrics.dropped.inc({ reason }, count);
    return { deliveryJobs: progress.chunks, dropped };
  }

  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`fan-out worker: ${err.message}`);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, err: Error): void {
    this.logger.error(`fan-out of notification ${job?.data?.notificationId} failed (attempt ${job?.attemptsMade}): ${err.message}`);
  }

  private async enqueueDeliveries(n: StoredNotification, payload: PushPayload, batches: string[][], firstIndex: number): Promise<void> {
    if (!batches.length) return;
    const { retryAttempts, retryBaseMs } = this.config.push;
    await this.delivery.addBulk(
      batches.map((deviceIds, i) => ({
        name: 'deliver',
        data: { notificationId: n.id, tenantId: n.tenantId, deviceIds, payload } satisfies DeliveryJob,
        opts: { jobId: `d-${n.id}-${firstIndex + i}`, ...retryOptions(retryAttempts, retryBaseMs) },
      })),
    );
  }

  private async sendToTopic(job: Job, payload: PushPayload, topic: string): Promise<void> {
    const sender = this.senders.for('fcm');
    const stop = this.metrics.sendDuration.startTimer({ provider: sender.provider });
    const outcome = await sender.sendToTopic(payload, topic);
    stop();
    if (outcome.ok) {
      this.metrics.sent.inc({ provider: sender.provider });
      return;
    }
    if (outcome.kind === 'config' || outcome.kind === 'payload' || outcome.kind === 'token') {
      this.metrics.failed.inc({ reason: outcome.code });
      this.logger.error(`topic send to ${topic} refused (${outcome.code}): ${outcome.message}`);
      throw new UnrecoverableError(`${outcome.code}: ${outcome.message}`);
    }
    this.metrics.retried.inc({ reason: outcome.code });
    if (outcome.kind === 'quota') {
      await this.worker.rateLimit(backoffDelay(job.attemptsStarted, this.config.push.retryBaseMs));
      throw Worker.RateLimitError();
    }
    throw new Error(`topic send to ${topic}: ${outcome.code}`);
  }
}
