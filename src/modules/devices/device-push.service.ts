import { Injectable, Logger } from '@nestjs/common';
import { scopedTopic, tenantTopic } from './device-topics';
import { DeviceMetrics } from './devices.metrics';
import { DeliverableDevice, DevicesRepository } from './devices.repository';
import type { TicketToCheck } from './expo-receipts.repository';
import { ExpoReceiptsService } from './expo-receipts.service';
import { chunk, DevicePlatform, PushFailure, PushPayload, PushTarget } from './push/push-sender';
import { PushSenders } from './push/push-senders';

/** What became of one push to a batch of devices. */
export interface DeliveryResult {
  /** Devices whose provider accepted the push. */
  sent: number;
  /** Devices whose token the provider reported dead: deactivated, never retried. */
  deactivated: number;
  /** Devices to send to again later (transient errors, or over quota). */
  retry: string[];
  /** Why they wait: the provider error codes met, each once. */
  retryCodes: string[];
  /** The provider is over its sending quota (per project): hold off before the retry. */
  quota?: boolean;
  /** The provider refused for good (credentials, an invalid payload); tokens are kept. Already logged. */
  fatal?: PushFailure;
  /** Each device's answer, for the delivery receipts (empty unless asked for). */
  devices: DevicePushOutcome[];
}

/** One device's part in a push: its owner and what the provider answered. */
export interface DevicePushOutcome {
  deviceId: string;
  userId: string;
  status: 'sent' | 'failed' | 'retrying' | 'deactivated';
  /** `<provider>: accepted` or `<provider>: <error code>`. */
  detail: string;
}

/** What became of one send to an FCM topic. */
export interface TopicSendResult {
  /** The topic as FCM knows it. */
  topic: string;
  sent: boolean;
  /** The provider error code of a transient failure (or a quota one) to retry. */
  retry?: string;
  quota?: boolean;
  /** Refused for good. Already logged. */
  fatal?: PushFailure;
}

/**
 * Sends pushes to devices and topics through each device's provider (FCM, Expo), and acts on what
 * the providers answer that concerns devices: dead tokens deactivate their device at once, pushes
 * accepted with a receipt to read later (Expo tickets) are tracked. What to do about the rest (retry,
 * pause for a quota, give up) is the caller's: it is in the result.
 */
@Injectable()
export class DevicePushService {
  private readonly logger = new Logger(DevicePushService.name);

  constructor(
    private readonly repo: DevicesRepository,
    private readonly senders: PushSenders,
    private readonly receipts: ExpoReceiptsService,
    private readonly metrics: DeviceMetrics,
  ) {}

  /**
   * Sends the payload to these devices (those still active; tokens are read now), each through its
   * provider in batches of the provider's size. `notificationId` labels receipts and logs; `badgeOf`
   * gives a device its own badge instead of the payload's; `outcomes` asks for each device's answer
   * (the delivery receipts), which a broadcast that keeps none does not pay for.
   */
  async deliver(
    payload: PushPayload,
    deviceIds: string[],
    notificationId: string,
    { badgeOf, outcomes: wanted = false }: { badgeOf?: (device: DeliverableDevice) => number | undefined; outcomes?: boolean } = {},
  ): Promise<DeliveryResult> {
    const devices = await this.repo.findDeliverable(deviceIds);
    const byProvider = new Map<string, DeliverableDevice[]>();
    for (const d of devices) {
      const group = byProvider.get(d.provider);
      if (group) group.push(d);
      else byProvider.set(d.provider, [d]);
    }

    let sent = 0;
    const dead = new Map<string, string[]>();
    const retry: { id: string; code: string }[] = [];
    const tickets: TicketToCheck[] = [];
    let quota = false;
    let fatal: PushFailure | undefined;
    const answers: DevicePushOutcome[] = [];
    for (const [provider, group] of byProvider) {
      const sender = this.senders.for(provider);
      for (const part of chunk(group, sender.maxBatch)) {
        const stop = this.metrics.sendDuration.startTimer({ provider });
        const outcomes = await sender.send(
          payload,
          part.map((d): PushTarget => {
            const badge = badgeOf?.(d);
            const target: PushTarget = { token: d.token, platform: d.platform as DevicePlatform };
            if (badge !== undefined) target.badge = badge;
            return target;
          }),
        );
        stop();
        let sentHere = 0;
        outcomes.forEach((outcome, i) => {
          const device = part[i];
          const answer = (status: DevicePushOutcome['status'], what: string) => {
            if (wanted) answers.push({ deviceId: device.id, userId: device.userId, status, detail: `${provider}: ${what}` });
          };
          if (outcome.ok) {
            if (outcome.receiptId) tickets.push({ id: outcome.receiptId, deviceId: device.id, notificationId });
            answer('sent', outcome.receiptId ? `accepted (ticket ${outcome.receiptId})` : 'accepted');
            return void sentHere++;
          }
          answer(
            outcome.kind === 'token' ? 'deactivated' : outcome.kind === 'quota' || outcome.kind === 'retry' ? 'retrying' : 'failed',
            outcome.code,
          );
          switch (outcome.kind) {
            case 'token': {
              const ids = dead.get(outcome.code);
              if (ids) ids.push(device.id);
              else dead.set(outcome.code, [device.id]);
              break;
            }
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

    // Accepted pushes whose delivery the provider confirms later (Expo receipts), even if the caller retries.
    await this.receipts.track(tickets);
    let deactivated = 0;
    for (const [code, ids] of dead) {
      this.metrics.failed.inc({ reason: code }, ids.length);
      deactivated += await this.deactivate(ids, code);
    }
    if (fatal) {
      this.logger.error(
        `push of notification ${notificationId} refused (${fatal.kind} error ${fatal.code}): ${fatal.message}. ` +
          (fatal.kind === 'config'
            ? 'Check the Firebase credentials and APNs keys (or EXPO_ACCESS_TOKEN and the credentials uploaded to Expo); tokens are kept.'
            : 'The payload is invalid; tokens are kept.'),
      );
      return { sent, deactivated, retry: [], retryCodes: [], fatal, devices: answers };
    }
    const perCode = new Map<string, number>();
    for (const r of retry) perCode.set(r.code, (perCode.get(r.code) ?? 0) + 1);
    for (const [reason, count] of perCode) this.metrics.retried.inc({ reason }, count);
    const retryCodes = [...perCode.keys()];
    return { sent, deactivated, retry: retry.map((r) => r.id), retryCodes, ...(quota ? { quota } : {}), devices: answers };
  }

  /** Sends the payload to a tenant-relative FCM topic (`role-member`), or to the whole tenant's topic when `name` is null. */
  async sendToTopic(payload: PushPayload, tenantId: string, name: string | null): Promise<TopicSendResult> {
    const topic = name === null ? tenantTopic(tenantId) : scopedTopic(tenantId, name);
    const sender = this.senders.for('fcm');
    const stop = this.metrics.sendDuration.startTimer({ provider: sender.provider });
    const outcome = await sender.sendToTopic(payload, topic);
    stop();
    if (outcome.ok) {
      this.metrics.sent.inc({ provider: sender.provider });
      return { topic, sent: true };
    }
    if (outcome.kind === 'config' || outcome.kind === 'payload' || outcome.kind === 'token') {
      this.metrics.failed.inc({ reason: outcome.code });
      this.logger.error(`topic send to ${topic} refused (${outcome.code}): ${outcome.message}`);
      return { topic, sent: false, fatal: outcome };
    }
    this.metrics.retried.inc({ reason: outcome.code });
    return { topic, sent: false, retry: outcome.code, ...(outcome.kind === 'quota' ? { quota: true } : {}) };
  }

  /** Counts pushes given up on because their job ran out of attempts, as failed (`retries_exhausted`). */
  abandoned(devices: number): void {
    this.metrics.failed.inc({ reason: 'retries_exhausted' }, devices);
  }

  /** Stops sending to devices whose token the provider reported dead. */
  private async deactivate(ids: string[], reason: string): Promise<number> {
    const count = await this.repo.deactivate(ids, reason);
    if (count) this.metrics.deactivated.inc({ reason }, count);
    return count;
  }
}
