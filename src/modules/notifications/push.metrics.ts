import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsService } from '../../core/metrics/metrics.service';

/** Prometheus metrics of the push pipeline, in the app's registry. */
@Injectable()
export class PushMetrics {
  readonly notifications: Counter<'category'>;
  readonly sent: Counter<'provider'>;
  readonly failed: Counter<'reason'>;
  readonly retried: Counter<'reason'>;
  readonly dropped: Counter<'reason'>;
  readonly sendDuration: Histogram<'provider'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.notifications = new Counter({
      name: 'tether_notifications_created_total',
      help: 'Notifications created by notify(), by category',
      labelNames: ['category'],
      registers,
    });
    this.sent = new Counter({
      name: 'tether_push_sent_total',
      help: 'Pushes accepted by the provider (per device, or per topic send)',
      labelNames: ['provider'],
      registers,
    });
    this.failed = new Counter({
      name: 'tether_push_failed_total',
      help: 'Pushes that failed for good, by reason (provider error code, or retries_exhausted)',
      labelNames: ['reason'],
      registers,
    });
    this.retried = new Counter({
      name: 'tether_push_retried_total',
      help: 'Pushes scheduled for another attempt after a transient error, by error code',
      labelNames: ['reason'],
      registers,
    });
    this.dropped = new Counter({
      name: 'tether_push_dropped_total',
      help: 'Pushes not sent on purpose: disabled, muted, quiet_hours, expired',
      labelNames: ['reason'],
      registers,
    });
    this.sendDuration = new Histogram({
      name: 'tether_push_send_duration_seconds',
      help: 'Duration of one provider send call (up to 500 devices)',
      labelNames: ['provider'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers,
    });
  }
}
