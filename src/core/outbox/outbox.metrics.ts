import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import { OutboxRepository } from './outbox.repository';

/** Prometheus metrics of the outbox (names agreed in issue 12's plan). Depth and age are read from PostgreSQL at scrape time. */
@Injectable()
export class OutboxMetrics {
  readonly published: Counter<'path'>;
  readonly failures: Counter;
  /** Earlier rows of a channel published by a later row's fast path (their gap outlasted its waits). */
  readonly caughtUp: Counter;
  /** From the commit to the fast path's end (publish of the rows just written); the bench reads it. */
  readonly fastPath: Histogram;

  constructor(metrics: MetricsService, repo: OutboxRepository) {
    const registers = [metrics.registry];
    // One query serves both gauges of a scrape.
    let pending: Promise<{ depth: number; oldestAgeSeconds: number }> | undefined;
    const stats = () => {
      pending ??= repo.stats().finally(() => setTimeout(() => (pending = undefined), 100));
      return pending;
    };
    new Gauge({
      name: 'tether_outbox_depth',
      help: 'Outbox rows not yet published (events and jobs committed changes still owe Redis)',
      registers,
      async collect() {
        this.set(
          await stats().then(
            (s) => s.depth,
            () => -1,
          ),
        );
      },
    });
    new Gauge({
      name: 'tether_outbox_oldest_age_seconds',
      help: 'Age of the oldest unpublished outbox row (0 when none)',
      registers,
      async collect() {
        this.set(
          await stats().then(
            (s) => s.oldestAgeSeconds,
            () => -1,
          ),
        );
      },
    });
    this.published = new Counter({
      name: 'tether_outbox_published_total',
      help: 'Outbox rows published, by the fast path right after the commit or by the relay',
      labelNames: ['path'],
      registers,
    });
    this.failures = new Counter({
      name: 'tether_outbox_publish_failures_total',
      help: 'Outbox publishes that failed (retried)',
      registers,
    });
    this.caughtUp = new Counter({
      name: 'tether_outbox_caught_up_total',
      help: 'Outbox rows a later row of their channel published on its fast path, their gap having outlasted its short waits',
      registers,
    });
    this.fastPath = new Histogram({
      name: 'tether_outbox_fast_path_seconds',
      help: 'Publishing the rows a write just committed, from the commit to the last row published',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
  }
}
