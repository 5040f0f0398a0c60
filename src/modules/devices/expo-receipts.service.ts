import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { retryOptions } from '../../core/queue/backoff';
import { EXPO_RECEIPT_BATCH, EXPO_TICKET_MAX_AGE_MS } from './devices.constants';
import { DEVICES_QUEUE, JOB_EXPO_RECEIPTS } from './devices.jobs';
import { DeviceMetrics } from './devices.metrics';
import { DevicesRepository } from './devices.repository';
import { ExpoReceiptsRepository, TicketToCheck } from './expo-receipts.repository';
import { PushSenders } from './push/push-senders';

export interface ReceiptsRound {
  checked: number;
  deactivated: number;
  /** A receipts request failed transiently (429, 5xx, network): its tickets stay due; retry the job. */
  retry: boolean;
}

/**
 * Expo answers a send with tickets and reports delivery later in receipts, where a token can turn
 * out dead (DeviceNotRegistered) although its ticket was ok. Accepted tickets are stored; a delayed
 * job on the devices queue (so only worker processes run it) reads the receipts once
 * EXPO_RECEIPT_DELAY_MS has passed, deactivates dead devices as FCM's dead tokens are, and deletes
 * the tickets. Receipts Expo does not have yet are asked for again a delay later, for up to a day.
 */
@Injectable()
export class ExpoReceiptsService {
  private readonly logger = new Logger(ExpoReceiptsService.name);

  constructor(
    private readonly tickets: ExpoReceiptsRepository,
    private readonly devices: DevicesRepository,
    private readonly senders: PushSenders,
    private readonly metrics: DeviceMetrics,
    private readonly config: AppConfig,
    @InjectQueue(DEVICES_QUEUE) private readonly queue: Queue,
  ) {}

  async track(tickets: TicketToCheck[]): Promise<void> {
    if (!tickets.length) return;
    await this.tickets.insert(tickets, this.config.expo.receiptDelayMs);
    await this.scheduleCheck(this.config.expo.receiptDelayMs);
  }

  /**
   * Sends within one delay share one job; a job that leaves tickets not yet due schedules the
   * next one for when they are (see scheduleNext).
   */
  async scheduleCheck(delay: number): Promise<void> {
    await this.queue.add(
      JOB_EXPO_RECEIPTS,
      {},
      {
        delay,
        deduplication: { id: JOB_EXPO_RECEIPTS, ttl: Math.max(1, delay) },
        ...retryOptions(this.config.push.retryAttempts, this.config.push.retryBaseMs),
      },
    );
  }

  /** Schedules the job for the next due ticket, if any is left. */
  async scheduleNext(): Promise<void> {
    const ms = await this.tickets.msUntilNextCheck();
    if (ms !== null) await this.scheduleCheck(ms);
  }

  /** Reads the receipts of up to EXPO_RECEIPT_BATCH due tickets and acts on them. */
  async checkDue(): Promise<ReceiptsRound> {
    const due = await this.tickets.due(EXPO_RECEIPT_BATCH);
    if (!due.length) return { checked: 0, deactivated: 0, retry: false };
    const { receipts, failures } = await this.senders.expo.receipts(due.map((t) => t.id));
    const retry = failures.some((f) => f.kind === 'retry' || f.kind === 'quota');
    // Anything else (a refused access token, a request Expo never takes) waits a whole delay.
    for (const f of failures.filter((f) => f.kind !== 'retry' && f.kind !== 'quota'))
      this.logger.error(`Expo refused a receipts request (${f.code}): ${f.message}`);

    const settled: string[] = [];
    const unanswered: string[] = [];
    const dead = new Map<string, string[]>();
    const oldest = Date.now() - EXPO_TICKET_MAX_AGE_MS;
    for (const ticket of due) {
      const outcome = receipts.get(ticket.id);
      if (!outcome) {
        // Not ready yet: ask again a delay later (at once on a retry), unless Expo no longer has it.
        if (new Date(ticket.createdAt).getTime() < oldest) settled.push(ticket.id);
        else if (!retry) unanswered.push(ticket.id);
        continue;
      }
      settled.push(ticket.id);
      this.metrics.receipts.inc({ result: outcome.ok ? 'ok' : outcome.code });
      if (outcome.ok) continue;
      if (outcome.kind === 'token') dead.set(outcome.code, [...(dead.get(outcome.code) ?? []), ticket.deviceId]);
      else this.logger.warn(`Expo receipt for notification ${ticket.notificationId}: ${outcome.code} (${outcome.message})`);
    }

    let deactivated = 0;
    for (const [code, ids] of dead) {
      const count = await this.devices.deactivate(ids, code);
      if (count) this.metrics.deactivated.inc({ reason: code }, count);
      deactivated += count;
    }
    await this.tickets.delete(settled);
    await this.tickets.postpone(unanswered, this.config.expo.receiptDelayMs);
    return { checked: settled.length, deactivated, retry };
  }

  /** Maintenance: drops tickets older than a day and makes sure due ones get a job. */
  async sweep(): Promise<number> {
    const expired = await this.tickets.deleteOlderThan(EXPO_TICKET_MAX_AGE_MS);
    await this.scheduleNext();
    return expired;
  }
}
