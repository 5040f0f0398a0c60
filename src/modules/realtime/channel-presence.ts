import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { RedisService } from '../../core/redis/redis.service';
import { parseChannel, roomOf, userChannel } from './channels/channel';
import { PresenceService } from './presence.service';
import { RealtimeService } from './realtime.service';

/** Who is in a presence channel, as the subscribe ack carries it. */
export interface ChannelMembers {
  /** Users subscribed to the channel now, on any pod. */
  count: number;
  /** Their ids; at most REALTIME_CHANNEL_PRESENCE_MAX_MEMBERS of them (then `count` says how many there are). */
  members: string[];
}

// KEYS: channel hash (user -> sockets), this pod's hash ("<room>\n<user>" -> sockets).
// ARGV: user, pod field, member limit. Returns {user's sockets in the channel, member count, members}.
const JOIN = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
local count = redis.call('HLEN', KEYS[1])
local members
if count <= tonumber(ARGV[3]) then members = redis.call('HKEYS', KEYS[1])
else members = redis.call('HSCAN', KEYS[1], 0, 'COUNT', ARGV[3])[2] end
local ids = {}
for i = 1, #members do
  if i % 2 == 1 or count <= tonumber(ARGV[3]) then table.insert(ids, members[i]) end
end
return {n, count, ids}`;

// KEYS: channel hash, this pod's hash. ARGV: user, pod field. Returns the user's sockets left in the channel.
const LEAVE = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) n = 0 end
local mine = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if mine <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
return n`;

// A dead (or draining) pod's channel memberships. KEYS: the pod's hash. ARGV: channel key prefix.
// Returns the "<room>\n<user>" fields whose user left the channel altogether.
const REAP = `
local entries = redis.call('HGETALL', KEYS[1])
local gone = {}
for i = 1, #entries, 2 do
  local sep = string.find(entries[i], '\\n', 1, true)
  local key = ARGV[1] .. string.sub(entries[i], 1, sep - 1)
  local user = string.sub(entries[i], sep + 1)
  local n = redis.call('HINCRBY', key, user, -tonumber(entries[i + 1]))
  if n <= 0 then redis.call('HDEL', key, user) table.insert(gone, entries[i]) end
end
redis.call('DEL', KEYS[1])
return gone`;

/**
 * Presence per channel, as Pusher's presence channels: subscribing to a channel that has it
 * (conversations, and the channels in REALTIME_PRESENCE_CHANNELS) answers who is in it, and the
 * channel then gets `member:joined` / `member:left` when a user's first socket joins it or their
 * last one leaves (on any pod). Cost: one Redis script per subscribe and per leave of such a
 * channel (nothing per connect, and nothing for other channels); the events are live only and go
 * through the adapter to the channel's room alone. A pod that dies is reaped with its presence.
 */
@Injectable()
export class ChannelPresence implements OnModuleInit {
  private readonly logger = new Logger(ChannelPresence.name);
  private readonly redis: Redis;
  private readonly enabled = new Set<string>();
  private readonly maxMembers: number;

  constructor(
    private readonly redisService: RedisService,
    private readonly presence: PresenceService,
    private readonly realtime: RealtimeService,
    config: AppConfig,
  ) {
    this.redis = redisService.client;
    this.maxMembers = config.realtime.channelPresenceMaxMembers;
    for (const key of config.realtime.presenceChannels) this.enable(key);
  }

  onModuleInit(): void {
    this.redis.defineCommand('tetherChannelJoin', { numberOfKeys: 2, lua: JOIN });
    this.redis.defineCommand('tetherChannelLeave', { numberOfKeys: 2, lua: LEAVE });
    this.redis.defineCommand('tetherChannelReap', { numberOfKeys: 1, lua: REAP });
    this.presence.onReap((podId) => this.reap(podId));
  }

  /** Turns presence on for a channel prefix (`conversation:`) or an exact channel name. */
  enable(key: string): void {
    this.enabled.add(key);
  }

  has(channel: string): boolean {
    if (this.enabled.has(channel)) return true;
    const parsed = parseChannel(channel);
    return parsed?.id !== undefined && this.enabled.has(`${parsed.prefix}:`);
  }

  /**
   * Counts a socket of the user in the channel and answers who is in it. Issued before the caller
   * awaits anything else, so a later `left` for the same socket reaches Redis after it.
   */
  async joined(tenantId: string, userId: string, channel: string): Promise<ChannelMembers> {
    const room = roomOf(tenantId, channel);
    const [n, count, members] = (await (this.redis as RedisWithChannels).tetherChannelJoin(
      this.channelKey(room),
      this.podKey(this.presence.podId),
      userId,
      `${room}\n${userId}`,
      this.maxMembers,
    )) as [number, number, string[]];
    if (n === 1) this.announce(tenantId, channel, userId, 'member:joined');
    return { count, members: members.slice(0, this.maxMembers) };
  }

  async left(tenantId: string, userId: string, channel: string): Promise<void> {
    const room = roomOf(tenantId, channel);
    const n = (await (this.redis as RedisWithChannels).tetherChannelLeave(
      this.channelKey(room),
      this.podKey(this.presence.podId),
      userId,
      `${room}\n${userId}`,
    )) as number;
    if (n === 0) this.announce(tenantId, channel, userId, 'member:left');
  }

  /** Who is in the channel now (at most the member limit). */
  async members(tenantId: string, channel: string): Promise<ChannelMembers> {
    const key = this.channelKey(roomOf(tenantId, channel));
    const [count, members] = await Promise.all([this.redis.hlen(key), this.redis.hkeys(key)]);
    return { count, members: members.slice(0, this.maxMembers) };
  }

  private async reap(podId: string): Promise<void> {
    const gone = (await (this.redis as RedisWithChannels).tetherChannelReap(this.podKey(podId), this.channelKey(''))) as string[];
    for (const field of gone) {
      const [room, userId] = field.split('\n');
      const bar = room.indexOf('|');
      this.announce(room.slice(0, bar), room.slice(bar + 1), userId, 'member:left');
    }
  }

  private announce(tenantId: string, channel: string, userId: string, event: 'member:joined' | 'member:left'): void {
    try {
      // Not to the user's own sockets (Pusher's rule): they know they joined.
      this.realtime.emitLive(tenantId, [channel], event, { channel, userId }, { exceptChannels: [userChannel(userId)] });
    } catch (err) {
      this.logger.warn(`${event} on ${channel}: ${(err as Error).message}`);
    }
  }

  // One hash tag for every channel-presence key: the scripts use a channel's hash with the pod's
  // index of all its channels (and REAP builds channel keys from their prefix), so on a Redis
  // Cluster they must share a node.
  private channelKey(room: string): string {
    return this.redisService.tagged('chpresence', 'rt', 'chpresence', room);
  }
  private podKey(podId: string): string {
    return this.redisService.tagged('chpresence', 'rt', 'pod', podId, 'chpresence');
  }
}

type RedisWithChannels = Redis & {
  tetherChannelJoin(...args: (string | number)[]): Promise<unknown>;
  tetherChannelLeave(...args: (string | number)[]): Promise<unknown>;
  tetherChannelReap(...args: (string | number)[]): Promise<unknown>;
};
