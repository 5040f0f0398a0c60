import { Injectable } from '@nestjs/common';
import { channelKey, type OutboxEntry, OutboxService, type PublishPath, type RecordedRow } from '../../core/outbox';
import { DeliveryIds } from './delivery-ids';
import { EventLogService } from './event-log.service';
import { EventMeta, ExternalEventName, RealtimeNamespace, ServerEventName, ServerEvents, untyped } from './realtime.events';
import { RealtimeMetrics } from './realtime.metrics';
import { roomOf, userChannel } from './channels/channel';

/** How a live-only event is delivered. */
export interface LiveOptions {
  /** Sockets in these channels are skipped (e.g. they get the event on that channel already). */
  exceptChannels?: string[];
  /** This socket is skipped too (the sender of a typing event). */
  exceptSocketId?: string;
  /** Dropped for a socket that is not ready to write, rather than buffered (typing). */
  volatile?: boolean;
}

/** One of several events `publishAll` logs and emits together. */
export type PublishedEvent = { [E in ServerEventName]: { event: E; payload: ServerEvents[E] } }[ServerEventName];

/** Kind of the outbox rows that carry a logged event (RealtimeModule registers its handler). */
export const REALTIME_EVENT = 'realtime.event';

/** The payload of a `realtime.event` outbox row. */
export interface RealtimeEventPayload {
  channel: string;
  event: string;
  data: unknown;
  /** Live-only copies emitted right after the logged event is, e.g. to participants' user rooms. */
  live?: { channels: string[]; exceptChannels?: string[] };
}

/**
 * An event to record in the outbox with the write that causes it (OutboxService): once committed,
 * it is published as `publish` would, exactly once and in the channel's commit order.
 */
export function realtimeEvent<E extends ServerEventName>(
  tenantId: string,
  channel: string,
  event: E,
  data: ServerEvents[E],
  live?: RealtimeEventPayload['live'],
): OutboxEntry {
  const payload: RealtimeEventPayload = { channel, event, data, ...(live ? { live } : {}) };
  return { tenantId, kind: REALTIME_EVENT, channelKey: channelKey(tenantId, channel), payload };
}

/**
 * What other modules call to reach clients, from any pod, through the Redis adapter. Durable
 * events (those that follow a committed change) are recorded in the outbox with the change
 * (`realtimeEvent`) and published from there through `publishRecorded`. Two verbs, named by what
 * they guarantee:
 * - `publish`: logged and recoverable. Appended to the channel's log, then emitted to every
 *   socket in the channel as `(payload, {channel, offset})`; a client that reconnects with
 *   `since`, or polls GET /realtime/events, gets it. The one entry point for durable events.
 * - `emitLive`: live only. Emitted as `(payload, {channel})` to the sockets connected now, never
 *   logged nor replayed: typing, and hints for views that reload over REST after a reconnect.
 */
@Injectable()
export class RealtimeService {
  private namespace?: RealtimeNamespace;

  constructor(
    private readonly log: EventLogService,
    private readonly metrics: RealtimeMetrics,
    private readonly outbox: OutboxService,
    private readonly deliveryIds: DeliveryIds,
  ) {}

  /** Set by the gateway once Socket.IO is up; until then events are logged but reach no socket. */
  attach(namespace: RealtimeNamespace): void {
    this.namespace = namespace;
  }

  /** Sockets connected to this pod. */
  get localSockets(): number {
    return this.namespace?.sockets.size ?? 0;
  }

  /** Logged and recoverable; resolves to the event's offset once it is in the log. */
  publish<E extends ServerEventName>(tenantId: string, channel: string, event: E, payload: ServerEvents[E]): Promise<string>;
  /** The same for an event named by another backend (POST /admin/broadcast). */
  publish(tenantId: string, channel: string, event: ExternalEventName, payload: unknown): Promise<string>;
  async publish(tenantId: string, channel: string, event: string, payload: unknown): Promise<string> {
    const [offset] = await this.publishAll(tenantId, channel, [{ event: event as ServerEventName, payload: payload as never }]);
    return offset;
  }

  /**
   * Several logged events on one channel, appended in one round trip and emitted in order; their
   * offsets. `ifWatched`: see EventLogService.appendAll (not logged: emitted live only, no offsets).
   */
  async publishAll(tenantId: string, channel: string, events: PublishedEvent[], options: { ifWatched?: boolean } = {}): Promise<string[]> {
    const stop = this.metrics.publishLatency.startTimer();
    const logged = events.map(({ event, payload }) => ({ event, data: payload }));
    const offsets = await this.log.appendAll(tenantId, channel, logged, options);
    if (this.namespace) {
      const room = untyped(this.namespace.to(roomOf(tenantId, channel)));
      // A presence change whose log nobody reads is not logged: live only.
      events.forEach(({ event, payload }, i) =>
        room.emit(event, payload, offsets[i] ? this.deliveryIds.meta(event, payload, { channel, offset: offsets[i] }) : { channel }),
      );
    }
    stop();
    this.metrics.published.inc(events.length);
    return offsets;
  }

  /**
   * Publishes an outbox row made by `realtimeEvent`: logged unless the log holds it already (then
   * nothing is emitted: each event reaches a socket once), then its live copies. `gap`: an earlier
   * event of the channel is not logged yet; nothing was done.
   */
  async publishRecorded(row: RecordedRow, path: PublishPath): Promise<'done' | 'gap'> {
    const { channel, event, data, live } = row.payload as RealtimeEventPayload;
    const stop = this.metrics.publishLatency.startTimer();
    const seq = Number(row.channelSeq);
    let offset = await this.log.appendSequenced(row.tenantId, channel, seq, event, data);
    // The log lost track of the channel (expired, or Redis lost its data), or lost its last events
    // (a failover to a replica that lacked them): when no earlier row waits in the outbox, append
    // anyway (past a gap under a new epoch: readers from before reload). Else an earlier row is
    // still on its way: wait for it. On the fast path a gap almost always is an earlier row that
    // another request (often another pod) is appending this very moment: its short retries wait
    // for it without asking the database each time (under load those queries queued for the pool
    // and turned every gap into a timeout); a gap that stays is the relay's, which asks.
    if (offset === 'unknown' || (offset === 'gap' && path === 'relay')) {
      const first = await this.outbox.isFirstOfChannel(row);
      offset = first ? await this.log.appendSequenced(row.tenantId, channel, seq, event, data, offset) : 'gap';
    }
    if (offset === 'gap' || offset === 'unknown') return 'gap';
    if (offset === 'duplicate') return 'done';
    const meta: EventMeta = this.deliveryIds.meta(event, data, { channel, offset });
    if (this.namespace) untyped(this.namespace.to(roomOf(row.tenantId, channel))).emit(event, data, meta);
    stop();
    this.metrics.published.inc();
    if (live?.channels.length)
      this.emitLive(row.tenantId, live.channels, event as ServerEventName, data as never, { exceptChannels: live.exceptChannels });
    return 'done';
  }

  /**
   * Live only, to each of these channels (e.g. several users' `user:<id>`): not logged, so a
   * client that was offline never sees it. Logging a hint per user would multiply the log writes
   * of every message by its audience.
   */
  emitLive<E extends ServerEventName>(
    tenantId: string,
    channels: string[],
    event: E,
    payload: ServerEvents[E],
    options: LiveOptions = {},
  ): void {
    if (!this.namespace) return;
    const deliveryId = this.deliveryIds.of(event, payload);
    for (const channel of channels) {
      let target = this.namespace.to(roomOf(tenantId, channel));
      for (const except of options.exceptChannels ?? []) target = target.except(roomOf(tenantId, except));
      // Every socket is in a room named by its id.
      if (options.exceptSocketId) target = target.except(options.exceptSocketId);
      // Checked by this method's signature; Socket.IO's own types cannot follow a generic event name.
      untyped(options.volatile ? target.volatile : target).emit(event, payload, deliveryId ? { channel, deliveryId } : { channel });
      if (!options.volatile) this.metrics.published.inc();
    }
  }

  /**
   * Takes every socket of a user, on every pod, out of a channel at once (its membership was
   * revoked): the adapter carries the leave to each pod, where ChannelSubscriptions also drops
   * the channel from the socket's session. Later subscribes go through the channel policy again.
   */
  async removeFromChannel(tenantId: string, userId: string, channel: string): Promise<void> {
    this.namespace?.in(roomOf(tenantId, userChannel(userId))).socketsLeave(roomOf(tenantId, channel));
  }
}
