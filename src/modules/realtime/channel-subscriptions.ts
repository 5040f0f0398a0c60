import { Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { AppConfig } from '../../config/app-config';
import { DomainError } from '../../core/http/domain-error';
import { ChannelMembers, ChannelPresence } from './channel-presence';
import { ChannelPolicyRegistry } from './channels/channel-policy.registry';
import { roomOf, userChannel } from './channels/channel';
import { parsePayload } from './client-event.registry';
import { DeliveryIds } from './delivery-ids';
import { EventLogService, InvalidOffsetError } from './event-log.service';
import { compareOffsets } from './offsets';
import type { RoomSubscriptions } from './redis-io.adapter';
import { RealtimeMetrics } from './realtime.metrics';
import { RealtimeNamespace, RealtimeSocket, untyped } from './realtime.events';
import { TypingRelay } from './typing-relay';

/** Longer than any broadcast takes to cross Redis, short enough to hold no state for long. */
const FLOOR_MS = 30_000;

const stringMap = z.record(z.string(), z.string());
const MANY = z.object({
  channels: z.array(z.string()).min(1),
  since: stringMap.optional(),
  tokens: stringMap.optional(),
});
/** One channel, as the venues app's frames name it: `{channel, since?: offset, token?}`. */
const ONE = z
  .object({ channel: z.string(), since: z.string().optional(), token: z.string().optional() })
  .transform(({ channel, since, token }) => ({
    channels: [channel],
    ...(since === undefined ? {} : { since: { [channel]: since } }),
    ...(token === undefined ? {} : { tokens: { [channel]: token } }),
  }));
/** `subscribe` and `unsubscribe` payloads: `{channels: [...], since?: {channel: offset}, tokens?: {channel: token}}`. */
export type SubscribeRequest = z.infer<typeof MANY>;

/** Also accepts one channel: `{channel, since?, token?}` (the venues app's `{type: 'subscribe', channel}` frame). */
export function parseSubscribeRequest(data: unknown): SubscribeRequest {
  const isOne = typeof data === 'object' && data !== null && 'channel' in data && !('channels' in data);
  return isOne
    ? parsePayload(ONE, data, '{channel: string, since?: offset, token?: string}')
    : parsePayload(MANY, data, '{channels: [string, ...], since?: {channel: offset}, tokens?: {channel: token}} or {channel}');
}

export interface SubscribeAck {
  subscribed: string[];
  rejected: { channel: string; reason: string }[];
  /** The offset each subscribed channel stands at: keep the latest you see, send it in `since`. */
  offsets: Record<string, string>;
  /** For channels named in `since`: true if every missed event was replayed, false to reload over REST. */
  recovered?: Record<string, boolean>;
  /** For presence channels (conversations, REALTIME_PRESENCE_CHANNELS): who is in each now. */
  presence?: Record<string, ChannelMembers>;
}

export interface UnsubscribeAck {
  unsubscribed: string[];
}

/**
 * A socket's channels: subscribe through the policy registry, unsubscribe, and recovery of
 * missed events from the channel log with no gap and no duplicate (with the delivery gate in
 * delivery-gate.ts). The session's channel set follows room membership, also when another pod
 * takes a user out of a channel.
 */
@Injectable()
export class ChannelSubscriptions {
  private readonly maxChannels: number;
  private readonly logMaxLength: number;
  private readonly autoJoin: string[];
  private readonly logger = new Logger(ChannelSubscriptions.name);

  constructor(
    config: AppConfig,
    private readonly policies: ChannelPolicyRegistry,
    private readonly log: EventLogService,
    private readonly deliveryIds: DeliveryIds,
    private readonly metrics: RealtimeMetrics,
    private readonly typing: TypingRelay,
    private readonly channelPresence: ChannelPresence,
  ) {
    this.maxChannels = config.realtime.maxChannelsPerSocket;
    this.logMaxLength = config.realtime.logMaxLength;
    this.autoJoin = config.hostChannels.autoJoin;
  }

  /**
   * A socket made to leave a room by any pod (RealtimeService.removeFromChannel reaches every pod
   * through the adapter) also loses the channel from its session, so typing and the channel count
   * follow the room membership.
   */
  followRoomLeaves(namespace: RealtimeNamespace): void {
    namespace.adapter.on('leave-room', (room: string, id: string) => {
      const socket = namespace.sockets.get(id);
      const session = socket?.data;
      if (!session?.channels) return;
      const prefix = `${session.user.tenantId}|`;
      if (!room.startsWith(prefix)) return;
      const channel = room.slice(prefix.length);
      if (session.channels.delete(channel)) this.typing.socketLeft(id, channel);
      if (session.presenceChannels?.delete(channel))
        void this.channelPresence.left(session.user.tenantId, session.user.userId, channel).catch(() => undefined);
    });
  }

  /** The socket's own `user:<id>` channel, which it is in without subscribing. */
  joinUserChannel(socket: RealtimeSocket): Promise<void> {
    const { tenantId, userId } = socket.data.user;
    return this.join(socket, roomOf(tenantId, userChannel(userId)));
  }

  /**
   * Subscribes the socket to AUTO_JOIN_CHANNELS, through their policies like any subscribe; a
   * channel its policy refuses is left out (and logged). Returns the channels joined.
   */
  async joinAutoChannels(socket: RealtimeSocket): Promise<string[]> {
    if (!this.autoJoin.length) return [];
    const ack = await this.subscribe(socket, { channels: this.autoJoin });
    for (const { channel, reason } of ack.rejected) this.logger.warn(`AUTO_JOIN_CHANNELS: ${channel} refused for a socket (${reason})`);
    return ack.subscribed;
  }

  async subscribe(socket: RealtimeSocket, { channels, since, tokens }: SubscribeRequest): Promise<SubscribeAck> {
    this.checkCount(channels);
    const session = socket.data;
    const { tenantId } = session.user;
    const unique = [...new Set(channels)];
    const decisions = await Promise.all(unique.map((c) => this.policies.authorize(session.user, c, { token: tokenFor(tokens, c) })));
    const ack: SubscribeAck = { subscribed: [], rejected: [], offsets: {} };
    const joinedBefore = new Set(session.channels);
    const plain: string[] = [];
    const recovering: string[] = [];
    for (const d of decisions) {
      if (!d.allowed) {
        ack.rejected.push({ channel: d.channel, reason: d.reason! });
        this.metrics.subscribeRejections.inc({ reason: d.reason! });
      } else if (!session.channels.has(d.channel) && session.channels.size >= this.maxChannels) {
        ack.rejected.push({ channel: d.channel, reason: 'too_many_channels' });
        this.metrics.subscribeRejections.inc({ reason: 'too_many_channels' });
      } else {
        // Recovery only for a channel this socket is not already in (else it would get repeats).
        const recover = Boolean(since?.[d.channel]) && !session.channels.has(d.channel);
        session.channels.add(d.channel);
        ack.subscribed.push(d.channel);
        (recover ? recovering : plain).push(d.channel);
      }
    }

    const added = [...plain, ...recovering].filter((c) => !joinedBefore.has(c));
    try {
      await Promise.all(plain.map((c) => this.join(socket, roomOf(tenantId, c))));
      // Read positions after joining: anything newer than them is delivered live.
      Object.assign(ack.offsets, await this.log.currentOffsets(tenantId, plain));
      if (recovering.length) ack.recovered = {};
      for (const channel of recovering) {
        const { recovered, offset } = await this.recover(socket, channel, since![channel]);
        ack.recovered![channel] = recovered;
        ack.offsets[channel] = offset;
      }
    } catch (err) {
      // All or nothing (Redis away: no offsets, no recovery): the channels this request added are
      // left again, so the client's retry subscribes, and recovers, from scratch.
      await this.unsubscribe(socket, added).catch(() => undefined);
      throw err;
    }
    await this.presenceOf(socket, ack, added);
    return ack;
  }

  async unsubscribe(socket: RealtimeSocket, channels: string[]): Promise<UnsubscribeAck> {
    this.checkCount(channels);
    const session = socket.data;
    const unsubscribed: string[] = [];
    for (const channel of new Set(channels)) {
      if (!session.channels.delete(channel)) continue;
      this.typing.socketLeft(socket.id, channel);
      await socket.leave(roomOf(session.user.tenantId, channel));
      unsubscribed.push(channel);
    }
    return { unsubscribed };
  }

  /** Counts the socket in the presence channels it just joined, and says who is in each (best effort). */
  private async presenceOf(socket: RealtimeSocket, ack: SubscribeAck, added: string[]): Promise<void> {
    const channels = ack.subscribed.filter((c) => this.channelPresence.has(c));
    if (!channels.length) return;
    const session = socket.data;
    const { tenantId, userId } = session.user;
    const fresh = new Set(added);
    const joined = (session.presenceChannels ??= new Set());
    ack.presence = {};
    await Promise.all(
      channels.map(async (channel) => {
        // Counted at most once per socket and channel; `followRoomLeaves` uncounts it when the socket leaves.
        const join = fresh.has(channel) && session.channels.has(channel) && !joined.has(channel);
        if (join) joined.add(channel);
        try {
          ack.presence![channel] = join
            ? await this.channelPresence.joined(tenantId, userId, channel)
            : await this.channelPresence.members(tenantId, channel);
        } catch {
          if (join) joined.delete(channel);
        }
      }),
    );
  }

  private checkCount(channels: string[]): void {
    if (channels.length > this.maxChannels) throw new DomainError('too_many_channels', `At most ${this.maxChannels} channels per request`);
  }

  /**
   * Replays what the socket missed on one channel, then hands over to live delivery with no gap
   * and no duplicate: live broadcasts are held for this socket from the moment it joins, the log
   * is read after the room subscription is active, the replay is sent, and only held events newer
   * than the replay are released. All or nothing: if the log cannot prove completeness, nothing
   * is replayed and the client is told to reload.
   */
  private async recover(socket: RealtimeSocket, channel: string, since: string): Promise<{ recovered: boolean; offset: string }> {
    const { tenantId } = socket.data.user;
    const room = roomOf(tenantId, channel);
    const held: { offset: string | undefined; deliver: () => void }[] = [];
    const gates = (socket.data.gates ??= new Map());
    gates.set(room, held);
    let last: string | undefined;
    let recovered = false;
    let offset: string | undefined;
    try {
      await this.join(socket, room);
      const result = await this.log.read(tenantId, channel, since, this.logMaxLength * 2).catch((err: Error) => {
        if (err instanceof InvalidOffsetError) return undefined;
        throw err;
      });
      offset = result?.offset;
      if (result?.recovered && !result.hasMore) {
        recovered = true;
        // Logged events replay under the name they were published with.
        for (const e of result.events)
          untyped(socket).emit(e.event, e.data, this.deliveryIds.meta(e.event, e.data, { channel, offset: e.offset }));
        last = result.offset;
      }
    } finally {
      // Synchronous from here to the gate's removal: nothing can slip in between.
      for (const h of held) {
        if (last === undefined || h.offset === undefined || compareOffsets(h.offset, last) > 0) {
          h.deliver();
          if (h.offset) offset = h.offset;
        }
      }
      gates.delete(room);
      if (last !== undefined) this.setFloor(socket, room, last);
    }
    return { recovered, offset: offset ?? '' };
  }

  /** Drops late live copies of replayed events for a while (see Floors in delivery-gate.ts). */
  private setFloor(socket: RealtimeSocket, room: string, offset: string): void {
    const floors = (socket.data.floors ??= new Map());
    floors.set(room, offset);
    setTimeout(() => {
      if (floors.get(room) === offset) floors.delete(room);
    }, FLOOR_MS).unref();
  }

  /** Joins a room and waits until this pod receives the room's broadcasts from every pod. */
  private async join(socket: RealtimeSocket, room: string): Promise<void> {
    const adapter = socket.nsp.adapter as unknown as RoomSubscriptions & { rooms: Map<string, Set<string>> };
    const existed = adapter.rooms.has(room);
    await socket.join(room);
    if (!existed) await adapter.whenSubscribed(room);
  }
}

/** The token sent for one channel (own keys only: a channel named like an Object method gets none). */
export function tokenFor(tokens: Record<string, string> | undefined, channel: string): string | undefined {
  return tokens && Object.hasOwn(tokens, channel) ? tokens[channel] : undefined;
}
