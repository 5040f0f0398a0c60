import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import { JOB_STATES, QueueCounts, QueueRegistry } from './queue-registry.service';

/** How long one read of the queues' counts serves scrapes: Prometheus servers scraping every pod at once cost Redis one read per pod. */
const CACHE_MS = 2000;
/** A scrape does not wait longer for Redis (fail-fast connections give up sooner once Redis is known away). */
const TIMEOUT_MS = 1000;

/**
 * Jobs per queue and state, read at scrape time (one MULTI per queue), cached briefly. With Redis
 * away each series reads -1, as the outbox gauges do, and the scrape still answers.
 */
@Injectable()
export class QueueMetrics {
  constructor(metrics: MetricsService, queues: QueueRegistry) {
    let cached: { at: number; counts: Promise<{ name: string; counts: QueueCounts }[]> } | undefined;
    const read = () => {
      if (cached && Date.now() - cached.at < CACHE_MS) return cached.counts;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('queue counts: no answer in time')), TIMEOUT_MS);
      });
      const counts = Promise.race([queues.counts(), timeout]).finally(() => clearTimeout(timer));
      cached = { at: Date.now(), counts };
      return counts;
    };
    new Gauge({
      name: 'tether_queue_jobs',
      help: 'BullMQ jobs per queue and state (waiting, active, delayed, prioritized, waiting-children, completed, failed); -1 while Redis cannot be read',
      labelNames: ['queue', 'state'],
      registers: [metrics.registry],
      async collect() {
        try {
          for (const { name, counts } of await read()) for (const state of JOB_STATES) this.set({ queue: name, state }, counts[state] ?? 0);
        } catch {
          for (const name of queues.names()) for (const state of JOB_STATES) this.set({ queue: name, state }, -1);
        }
      },
    });
  }
}
