import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsService } from '../../core/metrics/metrics.service';

/** Acknowledged delivery, in the app's registry. */
@Injectable()
export class DeliveryMetrics {
  readonly firstAck: Histogram<'kind'>;
  readonly pushes: Counter<'kind' | 'path'>;
  readonly avoided: Counter<'kind'>;
  readonly acks: Counter<'transport'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.firstAck = new Histogram({
      name: 'tether_delivery_first_ack_seconds',
      help: "From a message's or notification's commit to the first acknowledgement by one of a recipient's devices",
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30],
      registers,
    });
    this.pushes = new Counter({
      name: 'tether_delivery_pushes_total',
      help: 'Recipients pushed: direct (no socket anywhere) or fallback (no device acknowledged in time)',
      labelNames: ['kind', 'path'],
      registers,
    });
    this.avoided = new Counter({
      name: 'tether_delivery_pushes_avoided_total',
      help: 'Recipients not pushed because one of their devices acknowledged in time',
      labelNames: ['kind'],
      registers,
    });
    this.acks = new Counter({
      name: 'tether_delivery_acks_total',
      help: 'Delivery acknowledgements received, by transport (socketio, websocket, http)',
      labelNames: ['transport'],
      registers,
    });
  }
}
