import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../../core/metrics/metrics.service';

/** Prometheus metrics of notifications, in the app's registry (what was sent: the devices module's DeviceMetrics). */
@Injectable()
export class NotificationMetrics {
  readonly notifications: Counter<'category'>;
  readonly dropped: Counter<'reason'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.notifications = new Counter({
      name: 'tether_notifications_created_total',
      help: 'Notifications created by notify(), by category',
      labelNames: ['category'],
      registers,
    });
    this.dropped = new Counter({
      name: 'tether_push_dropped_total',
      help: 'Pushes not sent on purpose: disabled, muted, quiet_hours, expired',
      labelNames: ['reason'],
      registers,
    });
  }
}
