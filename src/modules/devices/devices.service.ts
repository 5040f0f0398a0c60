import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import type { AuthUser } from '../../core/auth/auth-user';
import { NotFoundError } from '../../core/http/domain-error';
import { ROLES } from '../../core/auth/auth-user';
import { deviceTopics, scopedTopic, tenantTopic, topicAudience } from './device-topics';
import { DeviceTopicsService } from './device-topics.service';
import { TOPIC_REFRESH_DAYS } from './devices.constants';
import { DeviceMetrics } from './devices.metrics';
import { DevicesRepository } from './devices.repository';
import { RegisterDeviceDto } from './dto/register-device.dto';
import { Device } from './entities/device.entity';
import { PushSenders } from './push/push-senders';
import { providerOfToken } from './push/push-tokens';
import { isUuid } from '../../core/http/validators';
import { OutboxService } from '../../core/outbox';

/**
 * Whose active devices, within one tenant. `notReachedByTopic`: the devices a send to that topic
 * (tenant-relative, null for the tenant's own) cannot reach because their provider has no topics
 * (Expo): the tenant's devices for its topic, a role's for the role's topic, none for other topics.
 */
export type Recipients = { userIds: string[] } | { roles: string[] } | { all: true } | { notReachedByTopic: string | null };

/** A recipient device, as a fan-out page lists it. */
export interface RecipientDevice {
  id: string;
  userId: string;
}

const PRUNE_BATCH = 1000;

/** Devices and their push tokens: registration, recipients for fan-out, maintenance. */
@Injectable()
export class DevicesService {
  private readonly logger = new Logger(DevicesService.name);

  constructor(
    private readonly repo: DevicesRepository,
    private readonly topics: DeviceTopicsService,
    private readonly senders: PushSenders,
    private readonly metrics: DeviceMetrics,
    private readonly config: AppConfig,
    private readonly outbox: OutboxService,
  ) {}

  /**
   * Upserts the caller's device on its token: a known token gets its owner, metadata and
   * lastSeenAt updated (it moves with its row if another user registers it); then its topic
   * subscriptions are (re)done in the background if they no longer match. The provider follows
   * from the token's form; Expo devices have no topics.
   */
  async register(user: AuthUser, dto: RegisterDeviceDto): Promise<{ device: Device; created: boolean }> {
    const roles = [...new Set(user.roles)].sort();
    const provider = providerOfToken(dto.token);
    const usesTopics = this.senders.for(provider).supportsTopics;
    const platform = dto.platform ?? 'unknown';
    const result = await this.repo.upsert({
      tenantId: user.tenantId,
      userId: user.userId,
      provider,
      platform,
      token: dto.token,
      fid: dto.fid,
      appVersion: dto.appVersion,
      locale: dto.locale,
      timezone: dto.timezone,
      roles,
      topics: usesTopics ? deviceTopics(user.tenantId, roles) : [],
      usesTopics,
    });
    this.metrics.registered.inc({ platform, created: String(result.created) });
    if (result.device.topicsPending) await this.topics.scheduleSyncSoon();
    return result;
  }

  list(user: AuthUser): Promise<Device[]> {
    return this.repo.listForUser(user.tenantId, user.userId);
  }

  /** Removes one of the caller's devices (logout) and unsubscribes its token from its topics. */
  async remove(user: AuthUser, id: string): Promise<void> {
    // The topic unsubscribes are recorded with the delete: with Redis away the delete still
    // answers 204, and they are enqueued when it is back.
    const removed = !isUuid(id)
      ? null
      : await this.outbox.transaction(async (tx) => {
          const row = await this.repo.deleteForUser(user.tenantId, user.userId, id, tx.em);
          if (row) await tx.record(this.topics.unsubscribeEntries(user.tenantId, [row]));
          return row;
        });
    if (!removed) throw new NotFoundError('device_not_found', 'No such device');
  }

  /** A page of the recipients' active devices (keyset on id, after `afterId`), for notification fan-out. */
  async pageRecipients(tenantId: string, recipients: Recipients, afterId: string | null, limit: number): Promise<RecipientDevice[]> {
    if (!('notReachedByTopic' in recipients)) return this.repo.pageRecipients(tenantId, recipients, afterId, limit);
    const name = recipients.notReachedByTopic;
    const audience = topicAudience(tenantId, name === null ? tenantTopic(tenantId) : scopedTopic(tenantId, name), ROLES);
    return audience ? this.repo.pageRecipients(tenantId, { ...audience, provider: 'expo' }, afterId, limit) : [];
  }

  /**
   * The repeatable maintenance job: deletes devices not seen for DEVICE_STALE_DAYS (unsubscribing
   * the live ones from their topics), flags month-old subscriptions for a refresh, and makes sure
   * no subscription work is left behind.
   */
  async maintain(): Promise<{ pruned: number; refreshed: number }> {
    let pruned = 0;
    for (;;) {
      const removed = await this.repo.deleteStale(this.config.push.staleDeviceDays, PRUNE_BATCH);
      pruned += removed.length;
      await this.topics.unsubscribeLater(removed.filter((r) => r.active));
      if (removed.length < PRUNE_BATCH) break;
    }
    if (pruned) {
      this.metrics.pruned.inc(pruned);
      this.logger.log(`pruned ${pruned} device(s) not seen for ${this.config.push.staleDeviceDays} days`);
    }
    const refreshed = await this.repo.refreshOldSubscriptions(TOPIC_REFRESH_DAYS);
    if (await this.repo.hasPendingTopicWork()) await this.topics.scheduleSync();
    return { pruned, refreshed };
  }
}
