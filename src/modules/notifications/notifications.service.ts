import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { OutboxService, type OutboxTransaction } from '../../core/outbox';
import { AppConfig } from '../../config/app-config';
import type { AuthUser, Role } from '../../core/auth/auth-user';
import { FieldProblem, invalidField, NotFoundError, validationFailed } from '../../core/http/domain-error';
import { TenantScope } from '../../core/database/tenant-scope';
import { retryOptions } from '../../core/queue/backoff';
import { QueueRegistry, queueJob } from '../../core/queue/queue-registry.service';
import { DeliveryService, type RecipientDelivery } from '../delivery';
import { DevicesService, MAX_BADGE, PUSH_SOUND_PATTERN, type PushPriority } from '../devices';
import { PresenceService, realtimeEvent, userChannel } from '../realtime';
import { InboxItem, InboxPage, ReadResponse } from './dto/inbox.dto';
import { PreferencesDto, PreferencesResponse } from './dto/preferences.dto';
import { stringMapProblem } from './dto/string-map.validator';
import { NotificationEvents } from './notification-events';
import { Category, CATEGORIES, MAX_USER_IDS } from './notifications.constants';
import { DELIVERY_QUEUE, DeliveryJob, FanoutJob, fanoutJobId, JOB_DELIVER, JOB_FANOUT, NOTIFICATIONS_QUEUE } from './notifications.jobs';
import { NotificationsRepository } from './notifications.repository';
import { DEFAULT_RULES, formatClock, parseClock, PreferenceRules } from './preferences';
import { NotificationMetrics } from './notifications.metrics';
import { isUuid } from '../../core/http/validators';

export type NotifyRecipients =
  | { userIds: string[] }
  | { roles: Role[] }
  /** A tenant-relative topic (`role-member`): one FCM topic send. */
  | { topic: string }
  /** Every device of the tenant: per-device fan-out, or one tenant-topic send with viaTopic. */
  | { tenant: true; viaTopic?: boolean };

export interface NotifyInput {
  tenantId: string;
  recipients: NotifyRecipients;
  title?: string;
  body?: string;
  /** String values only; no title and no body makes a silent data message. */
  data?: Record<string, string>;
  category: Category;
  priority?: PushPriority;
  collapseKey?: string;
  ttlSeconds?: number;
  /** The same key within the tenant returns the first notification and sends nothing again. */
  idempotencyKey?: string;
  /**
   * Push at once, without waiting for the recipients' acknowledging devices (README "Delivery"):
   * the caller applied the rule already (messaging's pushes).
   */
  immediate?: boolean;
  /** iOS badge, 0 to MAX_BADGE. Unset: each recipient's unread count on alert pushes. */
  badge?: number;
  /** `default`, `none` or a sound file of the app. Unset: `default` on alert pushes but low priority ones. */
  sound?: string;
  /**
   * The caller's own notification object, as its app expects it on the socket (the venues app's
   * `{id, type, title, message, data, createdAt}`): `notification:new` carries it as it was sent,
   * with Tether's fields added beside it where the caller's have not the same name (Tether's id
   * then as `notificationId`). At most MAX_EVENT_BYTES as JSON.
   */
  event?: Record<string, unknown>;
}

export interface NotifyResult {
  notificationId: string;
  duplicate: boolean;
  inboxCount: number;
}

/** notify() with `onlyIfOffline`: recipients online now are skipped (no inbox entry, no push, no event). */
export interface OfflineNotifyResult {
  /** null when every recipient was online: nothing was stored or sent. */
  notificationId: string | null;
  duplicate: boolean;
  inboxCount: number;
  /** Recipients notified: no live socket on any pod at the time of the call. */
  notified: string[];
  /** Recipients skipped because they were online. */
  skipped: string[];
}

/** The data `type` of the silent push that asks apps to remove a shown notification. */
export const DISMISS_TYPE = 'tether.dismiss';
/** A user's devices a dismissal reaches (their most recent). */
const DISMISS_DEVICES = 100;

const MAX_PAYLOAD_BYTES = 3800; // FCM allows 4096 with its own envelope
const MAX_TOPIC_PAYLOAD_BYTES = 1900; // topic messages: 2048
const MAX_EVENT_BYTES = 8192;

/** Notifications: the one notify() entry point, the inbox and the preferences. */
@Injectable()
export class NotificationsService implements OnModuleInit {
  constructor(
    private readonly repo: NotificationsRepository,
    private readonly events: NotificationEvents,
    private readonly metrics: NotificationMetrics,
    private readonly config: AppConfig,
    private readonly outbox: OutboxService,
    private readonly presence: PresenceService,
    @InjectQueue(NOTIFICATIONS_QUEUE) private readonly queue: Queue,
    @InjectQueue(DELIVERY_QUEUE) private readonly deliveryQueue: Queue<DeliveryJob>,
    private readonly devices: DevicesService,
    private readonly delivery: DeliveryService,
    queues: QueueRegistry,
  ) {
    queues.track(queue);
  }

  onModuleInit(): void {
    // Acknowledged delivery: `notification:new` is `n:<notification id>` (Tether's id, also when the
    // caller's own object keeps its `id` and Tether's is `notificationId`).
    this.delivery.registerEvent('notification:new', 'notification', (data) => data.notificationId ?? data.id);
  }

  /**
   * A silent data push to every device of the user, `{type: 'tether.dismiss', ...what}`: something
   * pushed to them was read on one device, the apps remove the notification they show for it
   * (README "Delivery"). No inbox entry, no socket event.
   */
  async dismiss(tenantId: string, userId: string, what: Record<string, string>): Promise<void> {
    const devices = await this.devices.pageRecipients(tenantId, { userIds: [userId] }, null, DISMISS_DEVICES);
    if (!devices.length) return;
    const id = randomUUID();
    const { retryAttempts, retryBaseMs } = this.config.push;
    await this.deliveryQueue.add(
      JOB_DELIVER,
      {
        notificationId: id,
        tenantId,
        deviceIds: devices.map((d) => d.id),
        payload: { data: { type: DISMISS_TYPE, ...what }, priority: 'normal', createdAt: Date.now() },
      },
      { jobId: `x-${id}`, ...retryOptions(retryAttempts, retryBaseMs) },
    );
  }

  /** What became of a notification per recipient and device: the caller's own part, or (SERVICE/ADMIN) everyone's. */
  async deliveries(user: AuthUser, notificationId: string): Promise<RecipientDelivery[]> {
    const missing = () => new NotFoundError('notification_not_found', 'No such notification in your inbox');
    if (!isUuid(notificationId)) throw missing();
    const privileged = user.roles.includes('SERVICE') || user.roles.includes('ADMIN');
    const owners = await this.repo.inboxOwners(user.tenantId, notificationId);
    const recipients = privileged ? owners : owners.filter((u) => u === user.userId);
    if (!recipients.length && !(privileged && (await this.repo.find(notificationId)))) throw missing();
    return this.delivery.view(user.tenantId, notificationId, recipients);
  }

  /**
   * Writes the notification (and an inbox entry per user recipient) and, in the same transaction,
   * the outbox rows of its fan-out job (job id derived from the notification id, so the same
   * notification is never sent twice) and of `notification:new` to each inbox owner's sockets; they
   * go out right after the commit, or later through the outbox relay when Redis is away. An
   * idempotency key already used in the tenant returns that notification and sends nothing.
   */
  notify(input: NotifyInput): Promise<NotifyResult> {
    this.validate(input);
    return this.outbox.transaction((tx) => this.notifyIn(tx, input));
  }

  /**
   * notify() for the users among `userIds` with no live socket on any pod now (the messaging
   * rule, for the host backend: "push only if the app is not open"). The others are skipped; if
   * every one is, nothing is stored or sent. Presence is read once, at the time of the call.
   */
  async notifyIfOffline(input: NotifyInput & { recipients: { userIds: string[] } }): Promise<OfflineNotifyResult> {
    this.validate(input);
    const userIds = [...new Set(input.recipients.userIds)];
    const online = await this.presence.onlineUsers(input.tenantId, userIds);
    const notified = userIds.filter((u) => !online.has(u));
    const skipped = userIds.filter((u) => online.has(u));
    if (!notified.length) return { notificationId: null, duplicate: false, inboxCount: 0, notified, skipped };
    const result = await this.notify({ ...input, recipients: { userIds: notified } });
    return { ...result, notified, skipped };
  }

  /** notify() inside the caller's outbox transaction (e.g. an announcement and its push commit together). */
  async notifyIn(tx: OutboxTransaction, input: NotifyInput): Promise<NotifyResult> {
    this.validate(input);
    const userIds = 'userIds' in input.recipients ? [...new Set(input.recipients.userIds)] : [];
    const { notification, created, inboxCount } = await this.repo.create(tx.em, {
      id: randomUUID(),
      tenantId: input.tenantId,
      category: input.category,
      priority: input.priority ?? 'normal',
      title: input.title || null,
      body: input.body || null,
      data: input.data ?? {},
      collapseKey: input.collapseKey ?? null,
      ttlSeconds: input.ttlSeconds ?? null,
      recipients: 'userIds' in input.recipients ? { userIds } : { ...input.recipients },
      idempotencyKey: input.idempotencyKey ?? null,
      badge: input.badge ?? null,
      sound: input.sound ?? null,
      inboxUserIds: userIds,
    });
    // A replay enqueues again while the fan-out has not run (its job may have been lost with Redis's
    // data); the job id makes a still-queued job a no-op.
    const entries = created || notification.status === 'pending' ? [this.fanoutJob(input.tenantId, notification.id, input.immediate)] : [];
    if (created) {
      const createdAt = new Date(notification.createdAt).toISOString();
      const { id, title, body, data } = notification;
      const own = { id, title, body, category: input.category, data, createdAt };
      const payload = input.event ? { ...own, ...input.event, notificationId: id } : own;
      for (const userId of userIds) entries.push(realtimeEvent(input.tenantId, userChannel(userId), 'notification:new', payload));
    }
    await tx.record(entries);
    if (created) {
      tx.afterCommit(() => this.metrics.notifications.inc({ category: input.category }));
      tx.afterCommit(() =>
        this.events.emitCreated({
          notificationId: notification.id,
          tenantId: input.tenantId,
          userIds,
          category: input.category,
          priority: notification.priority,
          title: notification.title,
          body: notification.body,
          data: notification.data,
          createdAt: new Date(notification.createdAt),
        }),
      );
    }
    return { notificationId: notification.id, duplicate: !created, inboxCount };
  }

  async inbox(user: AuthUser, query: { since?: string; cursor?: string; limit?: number }): Promise<InboxPage> {
    const limit = query.limit ?? 20;
    const [rows, unreadCount] = await Promise.all([
      this.repo.inbox(user.tenantId, user.userId, {
        beforeSeq: query.cursor,
        since: query.since ? new Date(query.since) : undefined,
        limit: limit + 1,
      }),
      this.repo.unreadCount(user.tenantId, user.userId),
    ]);
    const page = rows.slice(0, limit);
    const hasMore = rows.length > limit;
    return {
      items: page.map((r): InboxItem => ({
        id: r.id,
        category: r.category,
        priority: r.priority,
        title: r.title,
        body: r.body,
        data: r.data,
        createdAt: new Date(r.createdAt).toISOString(),
        readAt: r.readAt ? new Date(r.readAt).toISOString() : null,
      })),
      nextCursor: hasMore ? page[page.length - 1].seq : null,
      hasMore,
      unreadCount,
    };
  }

  async markRead(user: AuthUser, id: string): Promise<ReadResponse> {
    const readAt = isUuid(id) ? await this.repo.markRead(user.tenantId, user.userId, id) : null;
    if (!readAt) throw new NotFoundError('notification_not_found', 'No such notification in your inbox');
    // Read on one device after its push went out: the other devices may remove what they show.
    if (await this.delivery.dismissable(user.tenantId, user.userId, { notificationId: id }))
      await this.dismiss(user.tenantId, user.userId, { notificationId: id });
    return { id, readAt: new Date(readAt).toISOString() };
  }

  markAllRead(user: AuthUser): Promise<number> {
    return this.repo.markAllRead(user.tenantId, user.userId);
  }

  async preferences(user: AuthUser): Promise<PreferencesResponse> {
    const rules = (await this.repo.preferencesOf(user.tenantId, [user.userId])).get(user.userId) ?? DEFAULT_RULES;
    return toResponse(rules);
  }

  /** Replaces the caller's preferences; what is left out takes its default. */
  async savePreferences(user: AuthUser, dto: PreferencesDto): Promise<PreferencesResponse> {
    const quiet = dto.quietHours ?? null;
    if (quiet && quiet.start === quiet.end) throw invalidField('quietHours', 'quietHours start and end must differ');
    const rules: PreferenceRules = {
      enabled: dto.enabled ?? true,
      mutedCategories: CATEGORIES.filter((c) => dto.categories?.[c] === false),
      quietStart: quiet ? parseClock(quiet.start) : null,
      quietEnd: quiet ? parseClock(quiet.end) : null,
      quietTimezone: quiet?.timezone ?? null,
    };
    await this.repo.savePreferences(user.tenantId, user.userId, rules);
    return toResponse(rules);
  }

  private fanoutJob(tenantId: string, notificationId: string, immediate?: boolean) {
    const { retryAttempts, retryBaseMs } = this.config.push;
    const data: FanoutJob = { notificationId, tenantId, ...(immediate ? { immediate } : {}) };
    return queueJob(tenantId, NOTIFICATIONS_QUEUE, JOB_FANOUT, data, {
      jobId: fanoutJobId(notificationId),
      ...retryOptions(retryAttempts, retryBaseMs),
    });
  }

  /**
   * Enqueues again the fan-out of notifications still `pending` long after their creation whose job
   * is gone (Redis lost its data after the outbox had enqueued it). Returns how many were enqueued.
   */
  /** Every tenant's pending notifications: a system task (row-level security). */
  sweepPending(olderThanMs: number, limit = 200): Promise<number> {
    return TenantScope.system('notifications sweep', () => this.sweepStale(olderThanMs, limit));
  }

  private async sweepStale(olderThanMs: number, limit: number): Promise<number> {
    const stale = await this.repo.stalePending(olderThanMs, limit);
    if (!stale.length) return 0;
    const jobs = await Promise.all(stale.map((n) => this.queue.getJob(fanoutJobId(n.id))));
    const lost = stale.filter((_, i) => !jobs[i]);
    if (!lost.length) return 0;
    await this.outbox.transaction((tx) => tx.record(lost.map((n) => this.fanoutJob(n.tenantId, n.id))));
    return lost.length;
  }

  /** Checks what the DTO cannot: for callers inside the app as much as for HTTP. */
  private validate(input: NotifyInput): void {
    const problems: FieldProblem[] = [];
    const problem = (field: string, message: string) => problems.push({ field, messages: [message] });
    const r = input.recipients as Record<string, unknown>;
    const kinds = ['userIds', 'roles', 'topic', 'tenant'].filter((k) => r[k] !== undefined);
    if (kinds.length !== 1) problem('recipients', 'give exactly one of userIds, roles, topic or tenant');
    if (Array.isArray(r.userIds) && (r.userIds.length === 0 || r.userIds.length > MAX_USER_IDS))
      problem('userIds', `userIds must hold 1 to ${MAX_USER_IDS} users`);
    if (Array.isArray(r.roles) && r.roles.length === 0) problem('roles', 'roles must not be empty');
    if (!CATEGORIES.includes(input.category)) problem('category', `category must be one of ${CATEGORIES.join(', ')}`);
    const dataProblem = input.data === undefined ? undefined : stringMapProblem(input.data);
    if (dataProblem) problem('data', `data ${dataProblem}`);
    if (!input.title && !input.body && !Object.keys(input.data ?? {}).length)
      problem('title', 'give a title, a body or data (data alone makes a silent push)');
    const size = Buffer.byteLength(JSON.stringify([input.title ?? '', input.body ?? '', input.data ?? {}]));
    const viaTopic = 'topic' in r || r.viaTopic === true;
    if (size > (viaTopic ? MAX_TOPIC_PAYLOAD_BYTES : MAX_PAYLOAD_BYTES))
      problem('body', `title, body and data together exceed what FCM accepts${viaTopic ? ' for a topic message' : ''}`);
    if (input.badge !== undefined && (!Number.isInteger(input.badge) || input.badge < 0 || input.badge > MAX_BADGE))
      problem('badge', `badge must be an integer from 0 to ${MAX_BADGE}`);
    if (input.sound !== undefined && !PUSH_SOUND_PATTERN.test(input.sound))
      problem('sound', 'sound must be "default", "none" or a sound file name of 1 to 64 of the characters A-Z a-z 0-9 _ . -');
    if (input.event !== undefined && Buffer.byteLength(JSON.stringify(input.event)) > MAX_EVENT_BYTES)
      problem('data', `the notification object must be at most ${MAX_EVENT_BYTES} bytes as JSON`);
    if (problems.length) throw validationFailed(problems);
  }
}

function toResponse(rules: PreferenceRules): PreferencesResponse {
  const categories = Object.fromEntries(
    CATEGORIES.map((c) => [c, !rules.mutedCategories.includes(c)]),
  ) as PreferencesResponse['categories'];
  const quiet =
    rules.quietStart !== null && rules.quietEnd !== null && rules.quietTimezone
      ? { start: formatClock(rules.quietStart), end: formatClock(rules.quietEnd), timezone: rules.quietTimezone }
      : null;
  return { enabled: rules.enabled, categories, quietHours: quiet };
}
