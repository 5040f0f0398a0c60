import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { TenantScope } from '../database/tenant-scope';
import { OutboxRepository } from './outbox.repository';
import { OutboxService, REDIS_SETTLE_MS } from './outbox.service';

/** Channels relayed at once per round (each holds a PostgreSQL connection while it publishes). */
const PARALLEL_CHANNELS = 4;

/**
 * Publishes what the fast path left behind, on processes that run workers, on a plain timer (a
 * BullMQ scheduler would stop with Redis, which is when this is needed). Every interval: rows older
 * than the delay whose next attempt is due. A channel's rows go in sequence order under a
 * transaction-scoped advisory lock (one pod per channel at a time), stopping at the first failure;
 * rows without a channel are claimed with FOR UPDATE SKIP LOCKED. Several pods share the work and
 * never do the same row twice at once. While Redis is away it waits, and says so once.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxRelay');
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private stopped = false;
  private redisAway = false;
  private redisBackAt = 0;
  private failing = false;

  constructor(
    private readonly outbox: OutboxService,
    private readonly repo: OutboxRepository,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.runsWorkers) return;
    this.schedule();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  /** The next round: at once while there is a backlog (the last round published), else after the interval. */
  private schedule(backlog = false): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        let published = 0;
        this.round = this.runOnce()
          .then(
            (count) => {
              published = count;
              if (this.failing) this.logger.log('relaying again');
              this.failing = false;
            },
            (err: Error) => {
              if (!this.failing)
                this.logger.warn(`relay round failed (retrying every ${this.config.outbox.relayIntervalMs} ms): ${err.message}`);
              this.failing = true;
            },
          )
          .finally(() => this.schedule(published > 0));
      },
      backlog ? 0 : this.config.outbox.relayIntervalMs,
    );
  }

  /**
   * One round; returns how many rows it published. Public for tests. A cross-tenant system task
   * (row-level security: the login role); each row's handler runs as the row's tenant (publishOne).
   */
  runOnce(): Promise<number> {
    return TenantScope.system('outbox relay', () => this.relayRound());
  }

  private async relayRound(): Promise<number> {
    if (!this.outbox.redisReady) {
      if (!this.redisAway) this.logger.warn('Redis is away: the outbox keeps what committed changes owe until it is back');
      this.redisAway = true;
      return 0;
    }
    if (this.redisAway) {
      this.logger.log(`Redis is back: relaying the outbox in ${REDIS_SETTLE_MS} ms`);
      this.redisBackAt = Date.now();
      this.redisAway = false;
    }
    if (Date.now() - this.redisBackAt < REDIS_SETTLE_MS) return 0;
    const { relayDelayMs, relayBatch } = this.config.outbox;
    let published = 0;
    const channels = await this.repo.dueChannels(relayDelayMs, relayBatch);
    for (let i = 0; i < channels.length; i += PARALLEL_CHANNELS) {
      const counts = await Promise.all(channels.slice(i, i + PARALLEL_CHANNELS).map((key) => this.relayChannel(key)));
      published += counts.reduce((a, b) => a + b, 0);
    }
    return published + (await this.relayLoose());
  }

  private relayChannel(key: string): Promise<number> {
    return this.repo.transaction(async (em) => {
      if (!(await this.repo.tryLockChannel(em, key))) return 0;
      const rows = await this.repo.channelRows(em, key, this.config.outbox.relayBatch);
      const done: string[] = [];
      for (const row of rows) {
        const outcome = await this.outbox.publishOne(row, 'relay');
        if (outcome instanceof Error) {
          this.logger.warn(`outbox row ${row.id} (${row.kind}) not published: ${outcome.message}`);
          await this.outbox.recordFailure(row, outcome, em);
        }
        if (outcome !== 'published') break;
        done.push(row.id);
      }
      await this.repo.delete(done, em);
      return done.length;
    });
  }

  private relayLoose(): Promise<number> {
    const { relayDelayMs, relayBatch } = this.config.outbox;
    return this.repo.transaction(async (em) => {
      const rows = await this.repo.claimLoose(em, relayDelayMs, relayBatch);
      const outcomes = await Promise.all(rows.map((row) => this.outbox.publishOne(row, 'relay')));
      const done: string[] = [];
      for (const [i, outcome] of outcomes.entries()) {
        if (outcome === 'published') done.push(rows[i].id);
        else if (outcome instanceof Error) await this.outbox.recordFailure(rows[i], outcome, em);
      }
      const failed = outcomes.filter((o) => o instanceof Error);
      if (failed.length) this.logger.warn(`${failed.length} outbox rows not published: ${(failed[0] as Error).message}`);
      await this.repo.delete(done, em);
      return done.length;
    });
  }
}
