import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import type { AuthUser } from '../../core/auth/auth-user';
import { NotFoundError } from '../../core/http/domain-error';
import { ROLES } from '../../core/auth/auth-user';
import { deviceTopics, scopedTopic, tenantTopic, topicAudience } from './device-topics';
import { DeviceTopicsService } from './device-topics.service';
import { TOPIC_REFRESH_DAYS } from './devices.constants';
import { DeviceMetrics } from './devices.metrics';
import { DeliverableDevice, DevicesRepository, RecipientSelector } from './devices.repository';
import { RegisterDeviceDto } from './dto/register-device.dto';
import { Device } from './entities/device.entity';
import { ExpoReceiptsService } from './expo-receipts.service';
import type { TicketToCheck } from './expo-receipts.repository';
import { PushSenders } from './push/push-senders';
import { providerOfToken } from './push/push-tokens';

export type { DeliverableDevice, RecipientSelector } from './devices.repository';
export type { TicketToCheck } from './expo-receipts.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PRUNE_BATCH = 1000;

/** Devices and their push tokens. What other modules (notifications) call. */
@Injectable()
export class DevicesService {
  private readonly logger = new Logger(DevicesService.name);

  constructor(
    private readonly repo: DevicesRepository,
    private readonly topics: DeviceTopicsService,
    private readonly receipts: ExpoReceiptsService,
    private readonly senders: PushSenders,
    private readonly metrics: DeviceMetrics,
    private readonly config: AppConfig,
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
    if (result.device.topicsPending) await this.topics.scheduleSync();
    return result;
  }

  list(user: AuthUser): Promise<Device[]> {
    return this.repo.listForUser(user.tenantId, user.userId);
  }

  /** Removes one of the caller's devices (logout) and unsubscribes its token from its topics. */
  async remove(user: AuthUser, id: string): Promise<void> {
    const removed = UUID.test(id) ? await this.repo.deleteForUser(user.tenantId, user.userId, id) : null;
    if (!removed) throw new NotFoundError('device_not_found', 'No such device');
    await this.topics.unsubscribeLater([removed]);
  }

  /** A page of active recipient devices (keyset on id), for notification fan-out. */
  pageRecipients(tenantId: string, selector: RecipientSelector, afterId: string | null, limit: number) {
    return this.repo.pageRecipients(tenantId, selector, afterId, limit);
  }

  /** The still active devices among these ids, with their tokens. */
  findDeliverable(ids: string[]): Promise<DeliverableDevice[]> {
    return this.repo.findDeliverable(ids);
  }

  /** Stops sending to devices whose token the provider reported dead. */
  async deactivate(ids: string[], reason: string): Promise<number> {
    const count = await this.repo.deactivate(ids, reason);
    if (count) this.metrics.deactivated.inc({ reason }, count);
    return count;
  }

  /** Pushes accepted with a receipt to read later (Expo tickets): checked after EXPO_RECEIPT_DELAY_MS. */
  awaitReceipts(tickets: TicketToCheck[]): Promise<void> {
    return this.receipts.track(tickets);
  }

  /** The FCM topic of the whole tenant. */
  tenantTopic(tenantId: string): string {
    return tenantTopic(tenantId);
  }

  /** A tenant-relative topic name (`role-member`) as FCM knows it: never another tenant's. */
  topicFor(tenantId: string, name: string): string {
    return scopedTopic(tenantId, name);
  }

  /**
   * The devices of a provider without topics (Expo) that a send to this FCM topic must reach one by
   * one: the tenant's for the tenant topic, a role's for its role topic; null for other topics.
   */
  topicAudienceWithoutTopics(tenantId: string, topic: string): RecipientSelector | null {
    const audience = topicAudience(tenantId, topic, ROLES);
    return audience && { ...audience, provider: 'expo' };
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
