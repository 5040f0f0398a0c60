import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../../core/metrics/metrics.service';

@Injectable()
export class DeviceMetrics {
  readonly registered: Counter<'platform' | 'created'>;
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
