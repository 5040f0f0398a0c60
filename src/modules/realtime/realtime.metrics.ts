import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../../core/metrics/metrics.service';

/** Prometheus metrics of the realtime gateway, on the app's registry. */
@Injectable()
export class RealtimeMetrics {
  readonly sockets: Gauge;
  readonly connects: Counter;
  readonly disconnects: Counter<'reason'>;
  readonly handshakeFailures: Counter<'code'>;
  readonly published: Counter;
  readonly delivered: Counter;
  readonly subscribeRejections: Counter<'reason'>;
  readonly publishLatency: Histogram;
  readonly proxiedEvents: Counter<'outcome'>;
  readonly adapter: Gauge<'mode'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.sockets = new Gauge({ name: 'tether_realtime_sockets', help: 'Sockets connected to this pod', registers });
    this.connects = new Counter({ name: 'tether_realtime_connects_total', help: 'Accepted socket connections', registers });
    this.disconnects = new Counter({
      name: 'tether_realtime_disconnects_total',
      help: 'Socket disconnections by reason',
      labelNames: ['reason'],
      registers,
    });
    this.handshakeFailures = new Counter({
      name: 'tether_realtime_handshake_failures_total',
      help: 'Refused socket handshakes by error code',
      labelNames: ['code'],
      registers,
    });
    this.published = new Counter({ name: 'tether_realtime_events_published_total', help: 'Events published from this pod', registers });
    this.delivered = new Counter({
      name: 'tether_realtime_events_delivered_total',
      help: 'Event deliveries to sockets on this pod (one per socket)',
      registers,
    });
    this.subscribeRejections = new Counter({
      name: 'tether_realtime_subscribe_rejections_total',
      help: 'Channel subscriptions refused, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.publishLatency = new Histogram({
      name: 'tether_realtime_publish_to_emit_seconds',
      help: 'From publish() to the emit handed to the adapter (includes appending to the event log)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    });
    this.proxiedEvents = new Counter({
      name: 'tether_realtime_client_event_proxy_total',
      help: 'Client events sent to the host backend, by outcome (result, error, unavailable)',
      labelNames: ['outcome'],
      registers,
    });
    this.adapter = new Gauge({
      name: 'tether_realtime_adapter_info',
      help: 'The Socket.IO Redis adapter this pod runs (1 for its mode: sharded, or classic, configured or as the fallback)',
      labelNames: ['mode'],
      registers,
    });
  }
}
