import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { Job, Queue, Worker, WorkerOptions } from 'bullmq';
import type Redis from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { TenantScope } from '../database/tenant-scope';
import { RedisService } from '../redis/redis.service';

/** A worker's BullMQ settings (concurrency, limiter, lock duration...); connection and prefix are the queue's. */
export type WorkerSettings = Omit<WorkerOptions, 'connection' | 'prefix' | 'autorun'>;

/** Processes one job; `worker` is the one running it (for `rateLimit`, see settleJob). */
export type JobHandler<T> = (job: Job<T>, worker: Worker<T>) => Promise<unknown>;

/**
 * Builds the BullMQ workers at runtime, from settings the modules take from AppConfig, and only in
 * processes that run workers (`TETHER_ROLE` all or worker); an API-only process keeps its queues (it
 * enqueues) and runs none. On shutdown the workers close gracefully: active jobs finish.
 */
@Injectable()
export class QueueWorkers implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Queue');
  private readonly workers: Worker[] = [];
  /** Workers' own connection: blocking commands that wait for Redis (queues' producer connection fails fast). */
  private connection?: Redis;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
  ) {}

  get enabled(): boolean {
    return this.config.runsWorkers;
  }

  /**
   * Starts a worker on the queue's prefix; undefined in a process that runs no workers. Its jobs'
   * database work sees the rows of the job's `tenantId` only (row-level security; none without
   * one), or, for queues of cross-tenant maintenance (`{system: true}`), every tenant's.
   */
  start<T>(queue: Queue<T>, handle: JobHandler<T>, settings: WorkerSettings, scope: { system?: boolean } = {}): Worker<T> | undefined {
    if (!this.enabled) return undefined;
    this.connection ??= this.redis.bullmqConnection('workers', { worker: true }).connection;
    const run = (job: Job<T>): Promise<unknown> => {
      if (scope.system) return TenantScope.system(`queue ${queue.name}`, () => handle(job, worker));
      const tenantId = (job.data as { tenantId?: unknown } | undefined)?.tenantId;
      return typeof tenantId === 'string'
        ? TenantScope.run(tenantId, () => handle(job, worker))
        : TenantScope.open(() => handle(job, worker));
    };
    const worker: Worker<T> = new Worker<T>(queue.name, run, {
      connection: this.connection,
      prefix: queue.opts.prefix,
      ...settings,
    });
    // An `error` event nobody listens to is printed raw (and would crash on an EventEmitter).
    worker.on('error', (err: Error) => this.logger.warn(`${queue.name} worker: ${err.message}`));
    this.workers.push(worker);
    return worker;
  }

  /**
   * Runs `jobName` every `everyMs` on this queue, once across every pod: a BullMQ job scheduler,
   * upserted by worker processes only. The first run is at once, or one interval later with
   * `firstRunAfterInterval`. Not awaited: with Redis away, boot must not hang; BullMQ sends it once
   * Redis is back.
   */
  repeat(queue: Queue, jobName: string, everyMs: number, options: { schedulerId?: string; firstRunAfterInterval?: boolean } = {}): void {
    if (!this.enabled) return;
    const schedulerId = options.schedulerId ?? jobName;
    // startDate only counts when the scheduler is new: a restart keeps the running schedule.
    const start = options.firstRunAfterInterval ? { startDate: Date.now() + everyMs } : {};
    queue
      .upsertJobScheduler(schedulerId, { every: everyMs, ...start }, { name: jobName })
      .catch((err: Error) => this.logger.warn(`could not schedule ${schedulerId}: ${err.message}`));
  }

  /**
   * A worker that never reached Redis waits for it forever in a graceful close(); with Redis away
   * no job can be in flight, so those are closed at once instead.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const force = this.redis.client.status !== 'ready';
    await Promise.all(this.workers.map((worker) => worker.close(force)));
  }
}
