import { Injectable } from '@nestjs/common';
import type { Namespace } from 'socket.io';
import { EventLogService } from './event-log.service';
import { EventMeta, ServerEventName, ServerEvents } from './realtime.events';
import { RealtimeMetrics } from './realtime.metrics';
import { roomOf, userChannel } from './channels/channel';

/**
 * What other modules call to reach clients, from any pod: the event is appended to the channel's
 * log (so reconnecting clients and pollers can catch up) and emitted through the Redis adapter
 * to every socket in the channel on every pod, as `(payload, {channel, offset})`.
 */
@Injectable()
export class RealtimeService {
  private namespace?: Namespace;

  constructor(
    private readonly log: EventLogService,
    private readonly metrics: RealtimeMetrics,
  ) {}

  /** Set by the gateway once Socket.IO is up. */
  attach(namespace: Namespace): void {
    this.namespace = namespace;
  }

  publish<E extends ServerEventName>(tenantId: string, channel: string, event: E, payload: ServerEvents[E]): Promise<string> {
    return this.publishAny(tenantId, channel, event, payload);
  }

  /** To every socket of one user (their `user:<id>` channel, which each socket joins at connect). */
  toUser<E extends ServerEventName>(tenantId: string, userId: string, event: E, payload: ServerEvents[E]): Promise<string> {
    return this.publishAny(tenantId, userChannel(userId), event, payload);
  }

  /** Untyped form for the server API (POST /admin/broadcast), whose event names come from other backends. */
  async publishAny(tenantId: string, channel: string, event: string, payload: unknown): Promise<string> {
    const stop = this.metrics.publishLatency.startTimer();
    const offset = await this.log.append(tenantId, channel, event, payload);
    const meta: EventMeta = { channel, offset };
    this.namespace?.to(roomOf(tenantId, channel)).emit(event, payload, meta);
    stop();
    this.metrics.published.inc();
    return offset;
  }
}
