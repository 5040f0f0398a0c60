import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { z } from 'zod';
import { AppConfig } from '../../config/app-config';
import type { AuthUser } from '../../core/auth/auth-user';
import { TenantScope } from '../../core/database/tenant-scope';
import { RedisService } from '../../core/redis/redis.service';
import { ClientEventRegistry, DeliveryIds, parsePayload, PresenceService, type Reachability } from '../realtime';
import { DeliveryReceiptsRepository, type ReceiptRow, type RecipientDevice } from './delivery-receipts.repository';
import { DeliveryTracker } from './delivery-tracker';
import { DeliveryMetrics } from './delivery.metrics';
import {
  type Acknowledgement,
  type AckTransport,
  deliveryId,
  type FallbackWork,
  parseDeliveryId,
  type PushReceipt,
  type SubjectKind,
} from './delivery.types';

export const MAX_ACK_IDS = 500;
export const ackSchema = z.object({ ids: z.array(z.string().max(200)).min(1).max(MAX_ACK_IDS) }).strict();

/** Who acknowledges: the socket's (or HTTP caller's) user and device. */
export interface AckSource {
  user: AuthUser;
  deviceId?: string;
  transport: AckTransport;
}

/** The recipients of a delivery as the push rule sorts them (see README "Delivery"). */
export interface Audience {
  /** No socket on any pod: push now. */
  offline: string[];
  /** At least one acknowledging socket: push only if none of their devices acknowledges in time. */
  acknowledging: string[];
  /** Only sockets that do not acknowledge: the old rule of the subject (messages: no push). */
  online: string[];
}

/** One device's part in a delivery, as GET .../deliveries shows it. */
export interface DeviceDelivery {
  deviceId: string | null;
  platform: string | null;
  /** Acknowledged by a socket of this device (or, with deviceId null, by a socket that named no device). */
  socket: { transport: string; acknowledgedAt: string } | null;
  push: { status: string; detail: string | null; at: string } | null;
}

export interface RecipientDelivery {
  userId: string;
  /** `socket`: a device acknowledged; `push`: a push was accepted by a provider; `never`: neither (yet). */
  outcome: 'socket' | 'push' | 'never';
  devices: DeviceDelivery[];
}

const FLUSH_EVERY_MS = 20;
/** How often acknowledgements reach the database (receipts, delivered pointers): the ticks' delay at most. */
const RECORD_EVERY_MS = 250;
/** Acknowledgements waiting for the database at most (a few seconds of a busy pod's). */
const MAX_UNRECORDED = 50_000;
const FLUSH_AT = 500;
const PURGE_EVERY_MS = 10 * 60_000;
const PURGE_BATCH = 5000;
/** How long a push is remembered for the silent dismissal after a read elsewhere. */
const PUSHED_TTL_S = 3 * 24 * 3600;

// KEYS: the user's pushed hash. ARGV: field, seq or '' (a notification). Forgets the push if the
// read covers it (a conversation's pushed seq at most `seq`); returns 1 when there was one.
const DISMISS = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
if ARGV[2] ~= '' and tonumber(v) > tonumber(ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`;

// KEYS: the user's pushed hash. ARGV: field, seq, ttl s. Keeps the highest pushed seq of a
// conversation (a read of an older one does not dismiss a newer push).
const REMEMBER = `
local v = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > v then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

type RedisWithDismiss = Redis & {
  tetherDeliveryDismiss(key: string, field: string, seq: string): Promise<number>;
  tetherDeliveryRemember(key: string, field: string, seq: number, ttlSeconds: number): Promise<number>;
};

/**
 * Acknowledged delivery (README "Delivery"): sorts recipients by how they can be reached, takes
 * acknowledgements (`delivery:ack` on any pod, or POST /deliveries/ack) in batches, keeps the
 * per-device receipts, and remembers pushes that a read on another device should dismiss. The
 * subjects' owners (messaging, notifications) decide what a delivery is and push it.
 */
@Injectable()
export class DeliveryService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryService.name);
  private readonly acknowledgedHandlers = new Map<SubjectKind, (tenantId: string, acks: Acknowledgement[]) => Promise<void>>();
  private batch: { ack: Acknowledgement; done: (err?: Error) => void }[] = [];
  private unrecorded: Acknowledgement[] = [];
  private recording?: Promise<void>;
  private flushing?: NodeJS.Timeout;
  private purgeTimer?: NodeJS.Timeout;
  private readonly redis: RedisWithDismiss;

  constructor(
    private readonly tracker: DeliveryTracker,
    private readonly receipts: DeliveryReceiptsRepository,
    private readonly presence: PresenceService,
    private readonly metrics: DeliveryMetrics,
    private readonly clientEvents: ClientEventRegistry,
    private readonly deliveryIds: DeliveryIds,
    private readonly redisService: RedisService,
    private readonly config: AppConfig,
  ) {
    this.redis = redisService.client as RedisWithDismiss;
  }

  onModuleInit(): void {
    this.redis.defineCommand('tetherDeliveryDismiss', { numberOfKeys: 1, lua: DISMISS });
    this.redis.defineCommand('tetherDeliveryRemember', { numberOfKeys: 1, lua: REMEMBER });
    this.clientEvents.register('delivery:ack', async (ctx, data) => {
      const { ids } = parsePayload(ackSchema, data, '{ids: [deliveryId, ...]}');
      const acknowledged = await this.acknowledge({ user: ctx.user, deviceId: ctx.deviceId, transport: ctx.transport }, ids);
      return { ok: true, acknowledged };
    });
    if (!this.config.runsWorkers) return;
    this.purgeTimer = setInterval(
      () => void this.purge().catch((e: Error) => this.logger.warn(`receipts purge: ${e.message}`)),
      PURGE_EVERY_MS,
    );
    this.purgeTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.purgeTimer);
    await this.settled();
  }

  /** The owner of a kind: what an acknowledgement means to it (messaging moves the delivered pointer). */
  onAcknowledged(kind: SubjectKind, handler: (tenantId: string, acks: Acknowledgement[]) => Promise<void>): void {
    this.acknowledgedHandlers.set(kind, handler);
  }

  /** The owner of a kind: what to push when no device acknowledged in time. */
  onTimeout(kind: SubjectKind, handler: (work: FallbackWork) => Promise<void>): void {
    this.tracker.onTimeout(kind, handler);
  }

  /** The delivery id an event carries (`m:<id>`, `n:<id>`): the same for every socket. */
  registerEvent(event: string, kind: SubjectKind, subjectIdOf: (data: Record<string, unknown>) => unknown): void {
    this.deliveryIds.register(event, (data) => {
      const id = subjectIdOf(data);
      return typeof id === 'string' && id ? deliveryId(kind, id) : undefined;
    });
  }

  /** Sorts recipients by how they can be reached now (one Redis round trip). */
  async audience(tenantId: string, userIds: string[]): Promise<Audience> {
    const reach = await this.presence.reachability(tenantId, userIds);
    const by = (r: Reachability) => userIds.filter((u) => reach.get(u) === r);
    return { offline: by('offline'), acknowledging: by('acknowledging'), online: by('online') };
  }

  /** Starts waiting for the acknowledging recipients' devices (see DeliveryTracker.wait). */
  async waitFor(work: Omit<FallbackWork, 'userIds'> & { userIds: string[]; committedAt: number }): Promise<void> {
    if (!work.userIds.length) return;
    const acked = await this.tracker.wait(work);
    // Acknowledgements that overtook the registration: they avoided the push all the same.
    for (const at of acked.values()) this.metrics.firstAck.observe({ kind: work.kind }, Math.max(0, at - work.committedAt) / 1000);
    if (acked.size) this.metrics.avoided.inc({ kind: work.kind }, acked.size);
  }

  /** Counts pushed recipients: `direct` (offline) or `fallback` (no acknowledgement in time). */
  countPushes(kind: SubjectKind, path: 'direct' | 'fallback', recipients: number): void {
    if (recipients) this.metrics.pushes.inc({ kind, path }, recipients);
  }

  /**
   * Takes acknowledgements of `ids` from one device; resolves once they are recorded (batched with
   * every other socket's on this pod, at most FLUSH_EVERY_MS later). Ids that name no delivery are
   * skipped. Returns how many were taken.
   */
  async acknowledge(source: AckSource, ids: string[]): Promise<number> {
    const at = new Date();
    const acks: Acknowledgement[] = [];
    for (const id of new Set(ids)) {
      const subject = parseDeliveryId(id);
      if (!subject) continue;
      acks.push({
        tenantId: source.user.tenantId,
        userId: source.user.userId,
        ...subject,
        ...(source.deviceId ? { deviceId: source.deviceId } : {}),
        transport: source.transport,
        at,
      });
    }
    if (!acks.length) return 0;
    this.metrics.acks.inc({ transport: source.transport }, acks.length);
    await Promise.all(
      acks.map(
        (ack) =>
          new Promise<void>((resolve, reject) => {
            this.batch.push({ ack, done: (err) => (err ? reject(err) : resolve()) });
            this.scheduleFlush();
          }),
      ),
    );
    return acks.length;
  }

  /** Writes the receipts of one push (the push-delivery worker, per job). */
  async recordPush(tenantId: string, kind: SubjectKind, subjectId: string, receipts: PushReceipt[]): Promise<void> {
    await this.receipts.pushed(tenantId, kind, subjectId, receipts);
  }

  /**
   * Remembers that these users were pushed about a conversation's message (up to `seq`) or a
   * notification: a read on any device then sends the others a silent dismissal (see dismissable).
   */
  async rememberPush(
    tenantId: string,
    userIds: string[],
    subject: { conversationId: string; seq: number } | { notificationId: string },
  ): Promise<void> {
    if (!userIds.length) return;
    // Per user (each hash may live on another Redis Cluster node); auto-pipelined.
    await Promise.all(
      userIds.map(async (userId) => {
        const key = this.pushedKey(tenantId, userId);
        if ('conversationId' in subject)
          await this.redis.tetherDeliveryRemember(key, `c:${subject.conversationId}`, subject.seq, PUSHED_TTL_S);
        else await this.redis.multi().hset(key, `n:${subject.notificationId}`, '0').expire(key, PUSHED_TTL_S).exec();
      }),
    );
  }

  /** Whether a read (of a conversation up to `upToSeq`, or of a notification) covers a push: then forgets it. */
  async dismissable(
    tenantId: string,
    userId: string,
    read: { conversationId: string; upToSeq: number } | { notificationId: string },
  ): Promise<boolean> {
    const [field, seq] = 'conversationId' in read ? [`c:${read.conversationId}`, String(read.upToSeq)] : [`n:${read.notificationId}`, ''];
    return (await this.redis.tetherDeliveryDismiss(this.pushedKey(tenantId, userId), field, seq)) === 1;
  }

  /** What became of a delivery per recipient and device (GET .../deliveries). */
  async view(tenantId: string, subjectId: string, recipients: string[]): Promise<RecipientDelivery[]> {
    const [rows, devices] = await Promise.all([
      this.receipts.forSubject(tenantId, subjectId),
      this.receipts.devicesOf(tenantId, recipients),
    ]);
    return recipients.map((userId) =>
      recipientView(
        userId,
        rows.filter((r) => r.userId === userId),
        devices.filter((d) => d.userId === userId),
      ),
    );
  }

  /** Records what is batched: acknowledgements in Redis (auto-pipelined), then, later, receipts and owners' work per tenant. */
  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (!batch.length) return;
    try {
      const acks = batch.map((b) => b.ack);
      const outcomes = await this.tracker.acknowledge(
        acks.map((a) => ({ tenantId: a.tenantId, id: deliveryId(a.kind, a.subjectId), userId: a.userId, at: a.at.getTime() })),
      );
      outcomes.forEach((o, i) => {
        const { kind, at } = acks[i];
        if (o.avoidedPush) this.metrics.avoided.inc({ kind });
        if (o.first && o.committedAt !== undefined && !o.afterPush)
          this.metrics.firstAck.observe({ kind }, Math.max(0, at.getTime() - o.committedAt) / 1000);
      });
      // Recorded where it counts (the fallback push is cancelled): the client has its answer. The
      // database part (receipts, delivered pointers) follows off the client's path.
      for (const b of batch) b.done();
      this.recordLater(acks);
    } catch (err) {
      for (const b of batch) b.done(err as Error);
    }
  }

  /**
   * Receipts and the owners' work (messaging's delivered pointers), one tenant at a time, in rounds
   * (one at a time per pod, RECORD_EVERY_MS apart): what arrives meanwhile is taken together, so
   * under load the rounds grow instead of the transactions multiplying. With the database away the
   * backlog is capped (the oldest dropped: a later acknowledgement moves a pointer past them anyway).
   */
  private recordLater(acks: Acknowledgement[]): void {
    this.unrecorded.push(...acks);
    if (this.unrecorded.length > MAX_UNRECORDED) {
      const dropped = this.unrecorded.splice(0, this.unrecorded.length - MAX_UNRECORDED);
      this.logger.warn(`${dropped.length} acknowledgements not recorded in the database (backlog full)`);
    }
    this.recording ??= (async () => {
      while (this.unrecorded.length) {
        // A round at most every RECORD_EVERY_MS: a conversation's pointer moves (and its
        // `message:delivered` goes out) once per round however many of its messages were acknowledged.
        await new Promise((resolve) => setTimeout(resolve, RECORD_EVERY_MS));
        const round = this.unrecorded.splice(0);
        const byTenant = new Map<string, Acknowledgement[]>();
        for (const a of round) byTenant.set(a.tenantId, [...(byTenant.get(a.tenantId) ?? []), a]);
        for (const [tenantId, own] of byTenant)
          await TenantScope.run(tenantId, async () => {
            await this.receipts.acknowledged(tenantId, own);
            for (const [kind, handler] of this.acknowledgedHandlers) {
              const ofKind = own.filter((a) => a.kind === kind);
              if (ofKind.length) await handler(tenantId, ofKind);
            }
          }).catch((err: Error) => this.logger.warn(`acknowledgements of tenant ${tenantId} not recorded: ${err.message}`));
      }
    })().finally(() => (this.recording = undefined));
  }

  /** Resolves once every acknowledgement taken so far is in the database (tests, shutdown). */
  async settled(): Promise<void> {
    await this.flush();
    while (this.recording) await this.recording;
  }

  private pushedKey(tenantId: string, userId: string): string {
    return this.redisService.key('dlv', 'pushed', `{${tenantId}|${userId}}`);
  }

  private async purge(): Promise<number> {
    let purged = 0;
    for (;;) {
      const n = await TenantScope.system('delivery receipts purge', () =>
        this.receipts.purge(this.config.delivery.receiptsRetentionHours, PURGE_BATCH),
      );
      purged += n;
      if (n < PURGE_BATCH) return purged;
    }
  }

  /** Called as acknowledgements arrive: flushes soon, or at once when the batch is full. */
  private scheduleFlush(): void {
    if (this.batch.length >= FLUSH_AT) {
      clearTimeout(this.flushing);
      this.flushing = undefined;
      void this.flush();
      return;
    }
    this.flushing ??= setTimeout(() => {
      this.flushing = undefined;
      void this.flush();
    }, FLUSH_EVERY_MS);
  }
}

function iso(d: Date | string): string {
  return new Date(d).toISOString();
}

function recipientView(userId: string, rows: ReceiptRow[], devices: RecipientDevice[]): RecipientDelivery {
  const byDevice = new Map<string, DeviceDelivery>();
  const entry = (deviceId: string): DeviceDelivery => {
    let e = byDevice.get(deviceId);
    if (!e) {
      const known = devices.find((d) => d.deviceId === deviceId);
      e = { deviceId: deviceId || null, platform: known?.platform ?? null, socket: null, push: null };
      byDevice.set(deviceId, e);
    }
    return e;
  };
  for (const d of devices) if (d.active) entry(d.deviceId);
  for (const r of rows) {
    const e = entry(r.deviceId);
    if (r.transport === 'push') e.push = { status: r.status, detail: r.detail, at: iso(r.at) };
    else e.socket ??= { transport: r.transport, acknowledgedAt: iso(r.at) };
  }
  const all = [...byDevice.values()];
  const outcome = all.some((d) => d.socket) ? 'socket' : all.some((d) => d.push?.status === 'sent') ? 'push' : 'never';
  return { userId, outcome, devices: all };
}
