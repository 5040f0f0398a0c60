import { Injectable, OnModuleInit } from '@nestjs/common';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import type { Job, JobsOptions, Queue } from 'bullmq';
import { FailedJobView, failedJobView, SkippedJob } from './failed-jobs';
import { HealthRegistry } from '../health/health.registry';
import { NotFoundError } from '../http/domain-error';
import type { OutboxEntry, RecordedRow } from '../outbox';
import { OutboxService } from '../outbox/outbox.service';

export const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];
export type QueueCounts = Record<JobState, number>;

const HEALTH_TIMEOUT_MS = 1500;

/** Kind of the outbox rows that enqueue a BullMQ job (QueueRegistry publishes them). */
export const QUEUE_JOB = 'queue.job';

interface QueueJobPayload {
  queue: string;
  name: string;
  data: unknown;
  opts: JobsOptions;
}

/**
 * A job to record in the outbox with the write that causes it: enqueued after the commit (or by the
 * relay) with `jobId`, or `outbox-<row id>` when none is given (BullMQ refuses a `:` in ids), so that it is enqueued once however
 * often the row is published. The queue must be tracked by QueueRegistry.
 */
export function queueJob(tenantId: string, queue: string, name: string, data: unknown, opts: JobsOptions = {}): OutboxEntry {
  return { tenantId, kind: QUEUE_JOB, payload: { queue, name, data, opts } satisfies QueueJobPayload };
}

/**
 * The app's queues, for operations: job counts per state (GET /admin/queues) and a `queues` entry
 * in /health with each queue's depth (waiting + delayed + active) and failed count. Also enqueues the
 * jobs recorded in the outbox (`queueJob`).
 */
@Injectable()
export class QueueRegistry implements OnModuleInit {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly health: HealthRegistry,
    private readonly outbox: OutboxService,
  ) {}

  track(queue: Queue): void {
    this.queues.set(queue.name, queue);
  }

  onModuleInit(): void {
    this.health.register(() => this.healthIndicator());
    this.outbox.register(QUEUE_JOB, (row) => this.enqueueRecorded(row));
  }

  private async enqueueRecorded(row: RecordedRow): Promise<'done'> {
    const { queue, name, data, opts } = row.payload as QueueJobPayload;
    const target = this.queues.get(queue);
    if (!target) throw new Error(`queue "${queue}" is not tracked in this process`);
    // An id that exists already makes add() a no-op: the job is enqueued once.
    await target.add(name, data, { ...opts, jobId: opts.jobId ?? `outbox-${row.id}` });
    return 'done';
  }

  names(): string[] {
    return [...this.queues.keys()];
  }

  async counts(): Promise<{ name: string; counts: QueueCounts }[]> {
    return Promise.all(
      [...this.queues.values()].map(async (queue) => ({
        name: queue.name,
        counts: (await queue.getJobCounts(...JOB_STATES)) as QueueCounts,
      })),
    );
  }

  /** A tracked queue by name; 404 `queue_not_found` otherwise. */
  queue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new NotFoundError('queue_not_found', `No queue named "${name}"`);
    return queue;
  }

  /** The most recent failures first (BullMQ orders failed jobs by when they failed). */
  async failed(name: string, offset: number, limit: number): Promise<{ total: number; jobs: FailedJobView[] }> {
    const queue = this.queue(name);
    const [total, jobs] = await Promise.all([queue.getFailedCount(), queue.getFailed(offset, offset + limit - 1)]);
    return { total, jobs: jobs.filter(Boolean).map(failedJobView) };
  }

  /**
   * Moves failed jobs back to waiting: every one (BullMQ's retryJobs, in batches of 1000), or the
   * ones named. Attempts are not reset: a job that used them up runs once more; one that failed for
   * good earlier gets those it had left.
   */
  async retryFailed(name: string, jobIds?: string[]): Promise<{ retried: number; skipped: SkippedJob[] }> {
    const queue = this.queue(name);
    if (!jobIds) {
      const before = await queue.getFailedCount();
      await queue.retryJobs({ state: 'failed', count: 1000, timestamp: Date.now() });
      return { retried: Math.max(0, before - (await queue.getFailedCount())), skipped: [] };
    }
    const { done, skipped } = await this.eachFailed(queue, jobIds, (job) => job.retry('failed'));
    return { retried: done, skipped };
  }

  /**
   * Removes failed jobs: every one that failed more than `graceMs` ago (at most `limit`, 0 for no
   * limit), or the ones named.
   */
  async cleanFailed(
    name: string,
    options: { jobIds?: string[]; graceMs?: number; limit?: number },
  ): Promise<{ removed: number; skipped: SkippedJob[] }> {
    const queue = this.queue(name);
    if (!options.jobIds) {
      const removed = await queue.clean(options.graceMs ?? 0, options.limit ?? 0, 'failed');
      return { removed: removed.length, skipped: [] };
    }
    const { done, skipped } = await this.eachFailed(queue, options.jobIds, (job) => job.remove());
    return { removed: done, skipped };
  }

  private async eachFailed(
    queue: Queue,
    jobIds: string[],
    act: (job: Job) => Promise<unknown>,
  ): Promise<{ done: number; skipped: SkippedJob[] }> {
    let done = 0;
    const skipped: SkippedJob[] = [];
    for (const jobId of new Set(jobIds)) {
      const job = await queue.getJob(jobId);
      if (!job) skipped.push({ jobId, reason: 'not_found' });
      else if (!(await job.isFailed())) skipped.push({ jobId, reason: 'not_failed' });
      else {
        await act(job);
        done++;
      }
    }
    return { done, skipped };
  }

  private async healthIndicator(): Promise<HealthIndicatorResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
    });
    try {
      const all = await Promise.race([this.counts(), timeout]);
      const details = Object.fromEntries(
        all.map(({ name, counts }) => [
          name,
          { depth: counts.waiting + counts.delayed + counts.active + counts.prioritized, failed: counts.failed },
        ]),
      );
      return { queues: { status: 'up', ...details } };
    } catch (err) {
      return { queues: { status: 'down', message: (err as Error).message } };
    } finally {
      clearTimeout(timer);
    }
  }
}
