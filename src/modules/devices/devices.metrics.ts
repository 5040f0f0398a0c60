import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsService } from '../../core/metrics/metrics.service';

/** Prometheus metrics of devices and of the pushes sent to them, in the app's registry. */
@Injectable()
export class DeviceMetrics {
  readonly registered: Counter<'platform' | 'created'>;
  readonly sent: Counter<'provider'>;
  readonly failed: Counter<'reason'>;
  readonly retried: Counter<'reason'>;
  readonly sendDuration: Histogram<'provider'>;
  readonly deactivated: Counter<'reason'>;
  readonly topicOperations: Counter<'op' | 'result'>;
  readonly pruned: Counter;
  readonly receipts: Counter<'result'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.registered = new Counter({
      name: 'tether_devices_registered_total',
      help: 'Device registrations, by platform and whether the token was new',
      labelNames: ['platform', 'created'],
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
    this.sendDuration = new Histogram({
      name: 'tether_push_send_duration_seconds',
      help: 'Duration of one provider send call (up to 500 devices)',
      labelNames: ['provider'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers,
    });
    this.deactivated = new Counter({
      name: 'tether_push_tokens_deactivated_total',
      help: 'Devices deactivated because the provider reported their token dead, by error code',
      labelNames: ['reason'],
      registers,
    });
    this.topicOperations = new Counter({
      name: 'tether_push_topic_operations_total',
      help: 'Tokens subscribed to or unsubscribed from FCM topics, by result',
      labelNames: ['op', 'result'],
      registers,
    });
    this.receipts = new Counter({
      name: 'tether_push_receipts_total',
      help: 'Expo push receipts read, by result (ok, or the Expo error code)',
      labelNames: ['result'],
      registers,
    });
    this.pruned = new Counter({
      name: 'tether_devices_pruned_total',
      help: 'Devices deleted because they were not seen for DEVICE_STALE_DAYS',
      registers,
    });
  }
}
