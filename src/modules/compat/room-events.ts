import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { DomainError } from '../../core/http/domain-error';
import { channelOfRoom, ChannelPolicyRegistry, parsePayload, SocketContext, tokenFor } from '../realtime';

const stringMap = z.record(z.string(), z.string());
/** `{roomId, token?, tokens?, since?}`, or a bare room id. */
const ROOM = z.preprocess(
  (data) => (typeof data === 'string' ? { roomId: data } : data),
  z.object({
    roomId: z.string().min(1).max(200),
    token: z.string().optional(),
    tokens: stringMap.optional(),
    since: z.union([z.string(), stringMap]).optional(),
  }),
);

/** The activities app's room acks: `{success: true}` or `{error: 'Unauthorized' | 'Bad Request', reason}`, plus what we know. */
type RoomAck =
  | { success: true; roomId: string; channel: string; offset?: string; recovered?: boolean }
  | { error: string; reason: string; message?: string; roomId?: string; channel?: string };

/**
 * The activities app's `room:join` and `room:leave`: a `subscribe` and an `unsubscribe` of the
 * room's channel (see channelOfRoom), acknowledged the way that app's client reads it, a bad
 * request included.
 */
@Injectable()
export class RoomEvents {
  constructor(private readonly policies: ChannelPolicyRegistry) {}

  /** `room:join {roomId, token?, tokens?, since?}`. */
  join(ctx: SocketContext, data: unknown): Promise<RoomAck> {
    return this.answer(async () => {
      const room = parseRoom(data);
      const channel = this.channelOf(room.roomId);
      const token = room.token ?? tokenFor(room.tokens, channel) ?? tokenFor(room.tokens, room.roomId);
      const since = typeof room.since === 'string' ? { [channel]: room.since } : room.since;
      const tokens = token === undefined ? undefined : { [channel]: token };
      const ack = await ctx.subscribe({ channels: [channel], since, tokens });
      const rejected = ack.rejected[0];
      if (rejected) return { error: 'Unauthorized', reason: rejected.reason, roomId: room.roomId, channel };
      const recovered = ack.recovered?.[channel];
      return {
        success: true,
        roomId: room.roomId,
        channel,
        offset: ack.offsets[channel],
        ...(recovered === undefined ? {} : { recovered }),
      };
    });
  }

  /** `room:leave {roomId}`; leaving a room the socket is not in succeeds too. */
  leave(ctx: SocketContext, data: unknown): Promise<RoomAck> {
    return this.answer(async () => {
      const { roomId } = parseRoom(data);
      const channel = this.channelOf(roomId);
      await ctx.unsubscribe([channel]);
      return { success: true, roomId, channel };
    });
  }

  private channelOf(roomId: string): string {
    return channelOfRoom(roomId, (key) => this.policies.has(key));
  }

  /** A bad request is answered in the app's shape too, rather than `{error: {code, message}}`. */
  private async answer(run: () => Promise<RoomAck>): Promise<RoomAck> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof DomainError) return { error: 'Bad Request', reason: err.code, message: err.message };
      throw err;
    }
  }
}

function parseRoom(data: unknown): z.infer<typeof ROOM> {
  return parsePayload(ROOM, data, '{roomId: string, token?: string, tokens?: {channel: token}, since?: offset}');
}
