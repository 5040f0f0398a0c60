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

  /**
   * To each of these users' sockets, except those subscribed to `exceptChannel` (which get the
   * event there already): e.g. `message:new` for a conversation list, without a duplicate for a
   * client that has the conversation open. Reliable but not logged (meta is `{channel}` without
   * an offset): it is a hint for views that reload over REST after a reconnect, and logging it
   * per user would multiply the log writes of every message by its audience.
   */
  toUsers<E extends ServerEventName>(
    tenantId: string,
    userIds: string[],
    event: E,
    payload: ServerEvents[E],
    options: { exceptChannel?: string } = {},
  ): void {
    if (!this.namespace) return;
    for (const userId of userIds) {
      const channel = userChannel(userId);
      let target = this.namespace.to(roomOf(tenantId, channel));
      if (options.exceptChannel) target = target.except(roomOf(tenantId, options.exceptChannel));
      target.emit(event, payload, { channel });
      this.metrics.published.inc();
    }
  }

  /**
   * Droppable events (typing): emitted volatile on every pod and not logged, so never replayed.
   * Meta carries the channel only.
   */
  volatile<E extends ServerEventName>(tenantId: string, channel: string, event: E, payload: ServerEvents[E]): void {
    this.namespace?.to(roomOf(tenantId, channel)).volatile.emit(event, payload, { channel });
  }

  /**
   * Takes every socket of a user, on every pod, out of a channel at once (its membership was
   * revoked): the adapter carries the leave to each pod, whose gateway also drops the channel
   * from the socket's session. Later subscribes go through the channel policy again.
   */
  async removeFromChannel(tenantId: string, userId: string, channel: string): Promise<void> {
    this.namespace?.in(roomOf(tenantId, userChannel(userId))).socketsLeave(roomOf(tenantId, channel));
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
