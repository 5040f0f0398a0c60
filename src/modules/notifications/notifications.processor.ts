import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { backoffDelay, retryOptions } from '../../core/queue/backoff';
import { TenantScope } from '../../core/database/tenant-scope';
import { settleJob } from '../../core/queue/job-fate';
import { QueueRegistry } from '../../core/queue/queue-registry.service';
import { QueueWorkers } from '../../core/queue/queue-workers.service';
import { DeliveryService, type FallbackWork } from '../delivery';
import { DevicePushService, DevicesService, PushPayload, PushPriority, Recipients } from '../devices';
import { Category, DELIVERY_BATCH, FANOUT_PAGE, FIRST_FANOUT_PAGE, READ_AHEAD } from './notifications.constants';
import { NotificationMetrics } from './notifications.metrics';
import {
  DELIVERY_QUEUE,
  DeliveryJob,
  deliveryJobId,
  FanoutJob,
  FanoutProgress,
  JOB_DELIVER,
  NOTIFICATIONS_QUEUE,
} from './notifications.jobs';
import { NotificationsRepository, StoredNotification } from './notifications.repository';
import { PreferenceRules, verdict, Verdict } from './preferences';
import { UnreadCounters } from './unread-counters';

/** The push as devices get it: title and body, the caller's data plus the notification id and category. */
export function payloadOf(n: StoredNotification): PushPayload {
  return {
    ...(n.title ? { title: n.title } : {}),
    ...(n.body ? { body: n.body } : {}),
    data: { ...n.data, notificationId: n.id, category: n.category },
    priority: n.priority as PushPriority,
    ...(n.collapseKey ? { collapseKey: n.collapseKey } : {}),
    ...(n.ttlSeconds !== null ? { ttlSeconds: n.ttlSeconds } : {}),
    ...(n.badge !== null ? { badge: n.badge } : {}),
    ...(n.sound !== null ? { sound: n.sound } : {}),
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
@Injectable()
export class NotificationsProcessor implements OnApplicationBootstrap {
  private readonly logger = new Logger(NotificationsProcessor.name);

  constructor(
    private readonly repo: NotificationsRepository,
    private readonly devices: DevicesService,
    private readonly push: DevicePushService,
    private readonly metrics: NotificationMetrics,
    private readonly config: AppConfig,
    private readonly workers: QueueWorkers,
    private readonly unread: UnreadCounters,
    private readonly acknowledged: DeliveryService,
    @InjectQueue(NOTIFICATIONS_QUEUE) private readonly queue: Queue<FanoutJob>,
    @InjectQueue(DELIVERY_QUEUE) private readonly delivery: Queue<DeliveryJob>,
    queues: QueueRegistry,
  ) {
    queues.track(delivery);
  }

  onApplicationBootstrap(): void {
    // Recipients with acknowledging sockets whose devices did not confirm `notification:new` in time.
    this.acknowledged.onTimeout('notification', (work) => this.fallback(work));
    // Runs as the job's tenant. Jobs enqueued before they carried it: the notification's, looked up as a system task.
    const worker = this.workers.start(
      this.queue,
      async (job, w) => {
        if (job.data.tenantId) return this.process(job, w);
        const n = await TenantScope.system('notification fan-out lookup', () => this.repo.find(job.data.notificationId));
        return n ? TenantScope.run(n.tenantId, () => this.process(job, w)) : { skipped: 'notification not found' };
      },
      { concurrency: 2, lockDuration: this.config.push.lockMs, stalledInterval: this.config.push.lockMs },
    );
    worker?.on('failed', (job, err) => {
      this.logger.error(`fan-out of notification ${job?.data?.notificationId} failed (attempt ${job?.attemptsMade}): ${err.message}`);
    });
  }

  async process(job: Job<FanoutJob>, worker: Worker): Promise<unknown> {
    const n = await this.repo.find(job.data.notificationId);
    if (!n) return { skipped: 'notification not found' };
    if (n.status === 'dispatched') return { skipped: 'already dispatched' };
    const payload = payloadOf(n);
    const recipients = n.recipients as { userIds?: string[]; roles?: string[]; topic?: string; tenant?: boolean; viaTopic?: boolean };
    const progress: FanoutProgress = job.data.progress ?? { after: null, chunks: 0, pending: [] };

    if (recipients.topic !== undefined || recipients.viaTopic) {
      // A tenant-relative topic, or the tenant's own (a tenant send with viaTopic).
      const name = recipients.topic ?? null;
      if (!progress.topicSent) {
        const sent = await this.push.sendToTopic(payload, n.tenantId, name);
        await settleJob(worker, {
          fatal: sent.fatal && `${sent.fatal.code}: ${sent.fatal.message}`,
          pauseMs: sent.quota ? backoffDelay(job.attemptsStarted, this.config.push.retryBaseMs) : undefined,
          retry: sent.retry && `topic send to ${sent.topic}: ${sent.retry}`,
        });
        progress.topicSent = true;
        progress.topic = sent.topic;
        await job.updateData({ ...job.data, notificationId: n.id, tenantId: n.tenantId, progress });
      }
      // Expo has no topics: its devices in the topic's audience (tenant, role) get the push one by one.
      const fanout = await this.fanOut(job, n, payload, { notReachedByTopic: name }, progress);
      await this.repo.markDispatched(n.id);
      return { topic: progress.topic, ...fanout };
    }

    const selector: Recipients = recipients.userIds
      ? { userIds: recipients.userIds }
      : recipients.roles
        ? { roles: recipients.roles }
        : { all: true };
    // User recipients got `notification:new` on their sockets: those whose sockets acknowledge wait
    // for one of their devices to confirm it before they are pushed (README "Delivery").
    const hold = recipients.userIds && !job.data.immediate ? (users: string[]) => this.holdAcknowledging(n, users) : undefined;
    const result = await this.fanOut(job, n, payload, selector, progress, { hold, perUser: !!recipients.userIds });
    await this.repo.markDispatched(n.id);
    return result;
  }

  /** Of these recipients, those with acknowledging sockets: their push waits (DeliveryService.waitFor). */
  private async holdAcknowledging(n: StoredNotification, users: string[]): Promise<Set<string>> {
    const audience = await this.acknowledged.audience(n.tenantId, users);
    await this.acknowledged.waitFor({
      tenantId: n.tenantId,
      kind: 'notification',
      subjectId: n.id,
      userIds: audience.acknowledging,
      context: {},
      committedAt: new Date(n.createdAt).getTime(),
    });
    this.acknowledged.countPushes('notification', 'direct', users.length - audience.acknowledging.length);
    return new Set(audience.acknowledging);
  }

  /**
   * No device of these recipients acknowledged `notification:new` in time: their devices get the
   * push now, unless they read it meanwhile. Delivery job ids of their own (`d-<id>-f<n>`), so a
   * fallback handled twice enqueues once.
   */
  async fallback(work: FallbackWork): Promise<void> {
    const n = await this.repo.find(work.subjectId);
    if (!n) return;
    const read = await this.repo.readBy(n.tenantId, n.id, work.userIds);
    const userIds = work.userIds.filter((u) => !read.has(u));
    if (!userIds.length) return;
    const progress: FanoutProgress = { after: null, chunks: 0, pending: [] };
    await this.fanOut(undefined, n, payloadOf(n), { userIds }, progress, { jobIdOf: (i) => `d-${n.id}-f${i}`, perUser: true });
    this.acknowledged.countPushes('notification', 'fallback', userIds.length);
  }

  /** Pages the selected devices, applies their owners' preferences and enqueues delivery jobs (see the class comment). */
  private async fanOut(
    job: Job<FanoutJob> | undefined,
    n: StoredNotification,
    payload: PushPayload,
    selector: Recipients,
    progress: FanoutProgress,
    options: {
      /** Recipients (of a page's users) whose push waits for their devices' acknowledgement. */
      hold?: (userIds: string[]) => Promise<Set<string>>;
      /**
       * User recipients (not roles, topics, the tenant): remember whom it was pushed to (the silent
       * dismissal after a read elsewhere) and keep per-device receipts (GET .../deliveries).
       */
      perUser?: boolean;
      jobIdOf?: (index: number) => string;
    } = {},
  ): Promise<{ deliveryJobs: number; dropped: Partial<Record<Verdict, number>> }> {
    const now = new Date();
    const dropped: Partial<Record<Verdict, number>> = {};
    // Alert pushes without a badge of their own carry each owner's unread count (see badgesOf).
    const countBadges = (!!payload.title || !!payload.body) && payload.badge === undefined;
    // The badge of each pending device, in progress.pending's order; devices left pending by an
    // earlier attempt of this job have none (their owners were not read in this one).
    const pendingBadges: (number | null)[] = progress.pending.map(() => null);
    // Pages are read in a chain (keyset), each query starting as soon as the previous page's rows
    // are in, at most READ_AHEAD pages ahead of the loop below; each page's owners' preferences and
    // badges (read-only lookups) are read beside the next page's query. A small first page, so that
    // the first delivery jobs start while the rest is read; then pages grow to FANOUT_PAGE.
    const ahead: Promise<{
      page: { id: string; userId: string }[];
      last: boolean;
      users: string[];
      rules: Map<string, PreferenceRules>;
      badgeOf?: (userId: string) => number;
    }>[] = [];
    let cursor: { after: string | null; limit: number } | null = { after: progress.after, limit: FIRST_FANOUT_PAGE };
    let reading = false;
    const readAhead = (): void => {
      if (!cursor || reading || ahead.length >= READ_AHEAD) return;
      const { after, limit } = cursor;
      reading = true;
      const read = this.devices.pageRecipients(n.tenantId, selector, after, limit).then(async (page) => {
        reading = false;
        const last = page.length < limit;
        cursor = last ? null : { after: page[page.length - 1].id, limit: Math.min(limit * 4, FANOUT_PAGE) };
        readAhead();
        const users = [...new Set(page.map((d) => d.userId))];
        const [rules, badgeOf] = await Promise.all([
          this.repo.preferencesOf(n.tenantId, users),
          countBadges ? this.badgesOf(n.tenantId, users) : undefined,
        ]);
        return { page, last, users, rules, badgeOf };
      });
      read.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      ahead.push(read);
    };
    readAhead();
    for (;;) {
      const { page, last, users, rules, badgeOf } = await ahead.shift()!;
      readAhead();
      const held = await options.hold?.(users);
      const pushed = new Set<string>();
      const verdicts = new Map<string, Verdict>();
      for (const device of page) {
        if (held?.has(device.userId)) continue;
        let v: Verdict = 'send';
        const own = rules.get(device.userId);
        if (own) {
          v = verdicts.get(device.userId) ?? verdict(own, n.category as Category, payload.priority, now);
          verdicts.set(device.userId, v);
        }
        if (v === 'send') {
          progress.pending.push(device.id);
          if (options.perUser) pushed.add(device.userId);
          if (badgeOf) pendingBadges.push(badgeOf(device.userId));
        } else dropped[v] = (dropped[v] ?? 0) + 1;
      }
      const batches: { deviceIds: string[]; deviceBadges?: (number | null)[] }[] = [];
      let taken = 0;
      while (progress.pending.length - taken >= DELIVERY_BATCH || (last && progress.pending.length > taken)) {
        const end = taken + DELIVERY_BATCH;
        batches.push({
          deviceIds: progress.pending.slice(taken, end),
          ...(countBadges ? { deviceBadges: pendingBadges.slice(taken, end) } : {}),
        });
        taken = Math.min(end, progress.pending.length);
      }
      progress.pending.splice(0, taken);
      if (countBadges) pendingBadges.splice(0, taken);
      await this.enqueueDeliveries(n, payload, batches, progress.chunks, { jobIdOf: options.jobIdOf, receipts: options.perUser });
      progress.chunks += batches.length;
      // Message pushes are remembered by messaging, per conversation.
      if (options.perUser && pushed.size && payload.data.type !== 'message')
        await this.acknowledged.rememberPush(n.tenantId, [...pushed], { notificationId: n.id });
      if (page.length) progress.after = page[page.length - 1].id;
      if (last) break;
      await job?.updateData({ ...job.data, notificationId: n.id, tenantId: n.tenantId, progress });
    }
    for (const [reason, count] of Object.entries(dropped)) this.metrics.dropped.inc({ reason }, count);
    return { deliveryJobs: progress.chunks, dropped };
  }

  /**
   * These users' badges: unread inbox entries (but the categories a domain counts itself) plus the
   * unread counts domains register (messaging: unread messages).
   */
  private async badgesOf(tenantId: string, userIds: string[]): Promise<(userId: string) => number> {
    const [inbox, domains] = await Promise.all([
      this.repo.unreadCounts(tenantId, userIds, this.unread.covered),
      this.unread.count(tenantId, userIds),
    ]);
    return (user) => (inbox.get(user) ?? 0) + (domains.get(user) ?? 0);
  }

  private async enqueueDeliveries(
    n: StoredNotification,
    payload: PushPayload,
    batches: { deviceIds: string[]; deviceBadges?: (number | null)[] }[],
    firstIndex: number,
    {
      jobIdOf = (index: number) => deliveryJobId(n.id, index),
      receipts = false,
    }: { jobIdOf?: (index: number) => string; receipts?: boolean } = {},
  ): Promise<void> {
    if (!batches.length) return;
    const { retryAttempts, retryBaseMs } = this.config.push;
    await this.delivery.addBulk(
      batches.map(({ deviceIds, deviceBadges }, i) => ({
        name: JOB_DELIVER,
        data: {
          notificationId: n.id,
          tenantId: n.tenantId,
          deviceIds,
          payload,
          ...(deviceBadges ? { deviceBadges } : {}),
          ...(receipts ? { receipts } : {}),
        },
        opts: { jobId: jobIdOf(firstIndex + i), ...retryOptions(retryAttempts, retryBaseMs) },
      })),
    );
  }
}
