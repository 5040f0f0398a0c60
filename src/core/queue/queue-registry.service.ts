import { Injectable, OnModuleInit } from '@nestjs/common';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import type { JobsOptions, Queue } from 'bullmq';
import { HealthRegistry } from '../health/health.registry';
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

  async counts(): Promise<{ name: string; counts: QueueCounts }[]> {
    return Promise.all(
      [...this.queues.values()].map(async (queue) => ({
        name: queue.name,
        counts: (await queue.getJobCounts(...JOB_STATES)) as QueueCounts,
      })),
    );
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
