import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { TenantScope } from '../database/tenant-scope';
import { backoffDelay } from '../queue/backoff';
import { RedisService } from '../redis/redis.service';
import { OutboxMetrics } from './outbox.metrics';
import { OutboxRepository } from './outbox.repository';
import type { OutboxEntry, OutboxHandler, PublishPath, RecordedRow } from './outbox.types';

/**
 * After Redis comes back, the relay waits this long before publishing the backlog (and a fast path
 * before publishing the earlier rows of its channel, catchUp): other pods' pub/sub connections
 * reconnect on their own backoff (up to 2 s, see RedisService), and a backlog emitted before they
 * are back reaches their sockets only through the log, not live.
 */
export const REDIS_SETTLE_MS = 2500;
/** Short waits of the fast path for an earlier row of the same channel that another request is publishing. */
const GAP_WAITS_MS = [2, 10, 30, 80];
/**
 * Published rows are deleted in one statement per this many milliseconds. The delete is a system
 * task: its connection switches to the owner role and back for the next request, two round trips
 * each time, so it runs rarely (the relay takes rows only after OUTBOX_RELAY_DELAY_MS, and would
 * find a published row's events logged already).
 */
const DELETE_EVERY_MS = 100;
/** Earlier rows of its channel a fast path publishes at most when their gap outlasts its waits. */
const CATCH_UP_ROWS = 100;
/** Longest wait between two attempts of a failing row. */
const MAX_BACKOFF_MS = 60_000;

/** A write's transaction with the outbox at hand: what it records is published after the commit. */
export interface OutboxTransaction {
  readonly em: EntityManager;
  /** Records these rows now, in this transaction. */
  record(entries: OutboxEntry[]): Promise<void>;
  /** Takes these channels' sequence locks now (see OutboxRepository.lockChannels). */
  lockChannels(keys: string[]): Promise<void>;
  /** Runs after the commit and the fast path (in-process hooks); its failure is logged, never thrown. */
  afterCommit(hook: () => unknown): void;
}

/**
 * The transactional outbox. A write records the events and jobs it causes in its own transaction
 * (`transaction`, or its own SQL through outbox.sql.ts and then `publish`); right after the commit
 * the same process publishes those rows (the fast path) and deletes them. Whatever is left (Redis
 * away, a publish failed or timed out, the process died) the relay (OutboxRelay, on worker
 * processes) publishes later, in each channel's order. Handlers are registered by kind; each is
 * idempotent, so the fast path and the relay racing on a row deliver it once.
 * Knows no module: realtime registers `realtime.event`, core/queue `queue.job`, domains their own.
 */
@Injectable()
export class OutboxService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Outbox');
  private readonly handlers = new Map<string, OutboxHandler>();
  private readonly timeoutMs: number;
  private toDelete: string[] = [];
  private deleting?: Promise<void>;
  /** When the shared Redis connection came back after its last outage. */
  private redisBackAt = 0;
  /** Runs the pending delete at once instead of at its timer. */
  private deleteNow?: () => void;

  constructor(
    private readonly repo: OutboxRepository,
    private readonly redis: RedisService,
    private readonly metrics: OutboxMetrics,
    config: AppConfig,
  ) {
    this.timeoutMs = config.outbox.publishTimeoutMs;
    let away = false;
    redis.client.on('reconnecting', () => (away = true));
    redis.client.on('ready', () => {
      if (away) this.redisBackAt = Date.now();
      away = false;
    });
  }

  register(kind: string, handler: OutboxHandler): void {
    if (this.handlers.has(kind)) throw new Error(`outbox kind "${kind}" is already registered`);
    this.handlers.set(kind, handler);
  }

  /** Runs `work` in a transaction; after the commit, publishes what it recorded. Returns what `work` returned. */
  async transaction<T>(work: (tx: OutboxTransaction) => Promise<T>): Promise<T> {
    const recorded: RecordedRow[] = [];
    const hooks: (() => unknown)[] = [];
    const result = await this.repo.transaction((em) =>
      work({
        em,
        record: async (entries) => {
          recorded.push(...(await this.repo.record(em, entries)));
        },
        lockChannels: (keys) => this.repo.lockChannels(em, keys),
        afterCommit: (hook) => hooks.push(hook),
      }),
    );
    await this.publish(recorded);
    for (const hook of hooks) {
      try {
        await hook();
      } catch (err) {
        this.logger.warn(`after-commit hook failed: ${(err as Error).message}`);
      }
    }
    return result;
  }

  /** Records rows in the caller's transaction (the caller publishes them after its commit). */
  record(em: EntityManager, entries: OutboxEntry[]): Promise<RecordedRow[]> {
    return this.repo.record(em, entries);
  }

  /**
   * The fast path: publishes rows just committed, each channel's in sequence order, and deletes
   * those published. Never throws and never waits long: what fails or takes longer than
   * OUTBOX_PUBLISH_TIMEOUT_MS stays for the relay. With Redis known to be away it does not try.
   */
  async publish(rows: RecordedRow[]): Promise<void> {
    if (!rows.length) return;
    if (!this.redisReady) return;
    const stop = this.metrics.fastPath.startTimer();
    const groups = new Map<string, RecordedRow[]>();
    for (const row of rows) {
      const key = row.channelKey ?? `#${row.id}`;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    const done: string[] = [];
    await Promise.all(
      [...groups.values()].map(async (group) => {
        group.sort((a, b) => Number(a.channelSeq ?? a.id) - Number(b.channelSeq ?? b.id));
        for (const row of group) {
          const outcome = await this.publishOne(row, 'fast');
          if (outcome instanceof Error) await this.recordFailure(row, outcome).catch(() => undefined);
          if (outcome !== 'published') return;
          done.push(row.id);
        }
      }),
    );
    stop();
    this.deleteSoon(done);
  }

  /** Whether the shared Redis connection is up: nothing is tried while it is not. */
  get redisReady(): boolean {
    return this.redis.client.status === 'ready';
  }

  /**
   * Runs the row's handler with a deadline: `published` (or it was there already), `later` (an
   * earlier row of its channel is not published yet: the fast path leaves it to the relay), or the
   * error that stopped it (the caller records it with recordFailure).
   */
  publishOne(row: RecordedRow, path: PublishPath): Promise<'published' | 'later' | Error> {
    // As the row's tenant, whoever publishes it (a request, the relay, a system task): its handler
    // and the channel-order check see that tenant's rows, and only those (row-level security).
    return TenantScope.run(row.tenantId, () => this.publishInScope(row, path));
  }

  /** `catchUp`: on the fast path, whether a gap that outlasts the waits may publish the earlier rows (catchUp()). */
  private async publishInScope(
    row: RecordedRow,
    path: PublishPath,
    waits = path === 'fast' ? GAP_WAITS_MS : [],
    catchUp = path === 'fast',
  ): Promise<'published' | 'later' | Error> {
    const handler = this.handlers.get(row.kind);
    try {
      if (!handler) throw new Error(`no handler for outbox kind "${row.kind}"`);
      for (let attempt = 0; ; attempt++) {
        const outcome = await this.withDeadline(handler(row, path));
        if (outcome === 'done') break;
        if (attempt < waits.length) {
          await new Promise((r) => setTimeout(r, waits[attempt]));
          continue;
        }
        if (path === 'relay') throw new Error(`an earlier event of ${row.channelKey} is missing from its log`);
        // Still a gap after the waits: the earlier row's publisher is slow, or gave it up to the
        // relay, which would hold back every later row of the channel for OUTBOX_RELAY_DELAY_MS
        // or more (at load, each of them waiting out its gap in turn). Publish the earlier rows
        // here, then this one once more.
        if (!catchUp || !(await this.catchUp(row))) return 'later';
        catchUp = false;
      }
      this.metrics.published.inc({ path });
      return 'published';
    } catch (err) {
      this.metrics.failures.inc();
      return err as Error;
    }
  }

  /**
   * Publishes the rows of `row`'s channel that precede it and still wait in the outbox, in sequence
   * order, each tried once; true when all were. They committed before `row` (a channel's numbers
   * are handed out under its lock, held to the commit). Publishing one that its own request is
   * publishing at the same moment is harmless: the log takes it once.
   */
  private async catchUp(row: RecordedRow): Promise<boolean> {
    if (!row.channelKey || !row.channelSeq) return false;
    // Just after Redis came back the backlog is the relay's, once the pods' subscribers are back.
    if (Date.now() - this.redisBackAt < REDIS_SETTLE_MS) return false;
    const earlier = await this.repo.earlierRows(row.channelKey, row.channelSeq, CATCH_UP_ROWS);
    const done: string[] = [];
    for (const waiting of earlier) {
      if ((await this.publishInScope(waiting, 'fast', [], false)) !== 'published') break;
      done.push(waiting.id);
    }
    this.metrics.caughtUp.inc(done.length);
    this.deleteSoon(done);
    return done.length === earlier.length;
  }

  /** Counts a failed attempt and sets when the row is tried again (exponential backoff). */
  async recordFailure(row: RecordedRow, error: Error, em?: EntityManager): Promise<void> {
    const retryIn = backoffDelay(row.attempts + 1, 500, MAX_BACKOFF_MS);
    await this.repo.failed(row.id, error.message, retryIn, em);
  }

  /** Deletes published rows a moment later, many requests' rows in one statement (one per DELETE_EVERY_MS). */
  private deleteSoon(ids: string[]): void {
    if (!ids.length) return;
    this.toDelete.push(...ids);
    this.deleting ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, DELETE_EVERY_MS);
      this.deleteNow = () => {
        clearTimeout(timer);
        resolve();
      };
    }).then(async () => {
      const batch = this.toDelete;
      this.toDelete = [];
      this.deleting = this.deleteNow = undefined;
      // Rows that stay (the database away) are published again by the relay: the handlers refuse the second.
      await TenantScope.system('outbox delete', () => this.repo.delete(batch)).catch((err: Error) =>
        this.logger.warn(`published outbox rows not deleted: ${err.message}`),
      );
    });
  }

  /** Whether no earlier row of this row's channel is still waiting to be published. */
  isFirstOfChannel(row: RecordedRow): Promise<boolean> {
    return this.repo.isFirstOfChannel(row.channelKey!, row.channelSeq!);
  }

  /** Undone rows and the age of the oldest, within `timeoutMs` (health, GET /admin/queues). */
  stats(timeoutMs = 1500): Promise<{ depth: number; oldestAgeSeconds: number }> {
    return this.withDeadline(this.repo.stats(), timeoutMs);
  }

  /** Resolves once every delete asked for so far has run (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.deleting) await this.deleting;
  }

  /** Published rows are deleted before the database closes, not left for another pod's relay to publish again. */
  async beforeApplicationShutdown(): Promise<void> {
    this.deleteNow?.();
    await this.flush();
  }

  private async withDeadline<T>(work: Promise<T>, ms = this.timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    });
    work.catch(() => undefined); // it may still fail after the deadline
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
