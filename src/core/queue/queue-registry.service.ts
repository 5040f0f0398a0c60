import { Injectable, OnModuleInit } from '@nestjs/common';
import type { HealthIndicatorResult } from '@nestjs/terminus';
import type { Queue } from 'bullmq';
import { HealthRegistry } from '../health/health.registry';

export const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];
export type QueueCounts = Record<JobState, number>;

const HEALTH_TIMEOUT_MS = 1500;

/**
 * The app's queues, for operations: job counts per state (GET /admin/queues) and a `queues` entry
 * in /health with each queue's depth (waiting + delayed + active) and failed count.
 */
@Injectable()
export class QueueRegistry implements OnModuleInit {
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly health: HealthRegistry) {}

  track(queue: Queue): void {
    this.queues.set(queue.name, queue);
  }

  onModuleInit(): void {
    this.health.register(() => this.healthIndicator());
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
        all.map(({ name, counts }) => [name, { depth: counts.waiting + counts.delayed + counts.active + counts.prioritized, failed: counts.failed }]),
      );
      return { queues: { status: 'up', ...details } };
    } catch (err) {
      return { queues: { status: 'down', message: (err as Error).message } };
    } finally {
      clearTimeout(timer);
    }
  }
}
