import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { z } from 'zod';
import { AppConfig } from '../../config/app-config';
import { DomainError } from '../../core/http/domain-error';
import { RedisService } from '../../core/redis/redis.service';
import { presenceChannel } from './channels/channel';
import { parsePayload } from './client-event.registry';
import { PresenceChange, PresenceService, PresenceState } from './presence.service';
import type { RealtimeNamespace } from './realtime.events';
import { USER_ID_PATTERN } from '../../core/auth/auth-user';

const FOLLOW = z.object({ userIds: z.array(z.string().regex(USER_ID_PATTERN, 'a user id')).min(1).max(1000) });

/** `presence:follow` / `presence:unfollow` payloads: `{userIds: [...]}`. */
export function parseFollowRequest(data: unknown): string[] {
  return parsePayload(FOLLOW, data, '{userIds: [userId, ...]} (1 to 1000)').userIds;
}

export interface FollowAck {
  /** Users this socket follows now. */
  following: number;
  /** The current presence of the users named in this request. */
  presence: PresenceState[];
}

/**
 * Following many users' presence without a channel each (a socket holds at most
 * REALTIME_MAX_CHANNELS_PER_SOCKET channels; a contact list has hundreds of users).
 * `presence:follow {userIds}` answers their current states and from then on delivers their
 * `presence:update` to the socket, until `presence:unfollow` or the socket goes.
 *
 * Cost: each pod keeps an in-memory index (tenant|user -> following sockets), so a follow costs
 * one Redis round trip (the current states) and no Redis subscription. Every presence transition
 * (a user's first socket connects, their last one leaves) is published once on one Redis pub/sub
 * channel that every pod hears; each pod looks the user up in its index and emits to its own
 * followers. Nothing is logged: a client that reconnects follows again and gets fresh states.
 */
@Injectable()
export class PresenceFollows implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PresenceFollows.name);
  private readonly followers = new Map<string, Set<string>>();
  private readonly bySocket = new Map<string, { tenantId: string; users: Set<string> }>();
  private readonly topic: string;
  private readonly maxPerSocket: number;
  private subscriber?: Redis;
  private namespace?: RealtimeNamespace;

  constructor(
    private readonly redisService: RedisService,
    private readonly presence: PresenceService,
    config: AppConfig,
  ) {
    this.topic = redisService.key('rt', 'presence', 'changes');
    this.maxPerSocket = config.realtime.maxPresenceFollows;
  }

  onModuleInit(): void {
    this.subscriber = this.redisService.create('presence:sub', { enableReadyCheck: false }, 'patient');
    this.subscriber.on('message', (_topic: string, message: string) => this.deliver(message));
    void this.subscriber.subscribe(this.topic).catch((err: Error) => this.logger.warn(`presence subscribe: ${err.message}`));
    // Transitions are detected on the pod where they happen; every pod hears them here.
    this.presence.onChange((change) => {
      void this.redisService.client.publish(this.topic, JSON.stringify(change)).catch(() => undefined);
    });
  }

  attach(namespace: RealtimeNamespace): void {
    this.namespace = namespace;
  }

  async follow(socketId: string, tenantId: string, userIds: string[]): Promise<FollowAck> {
    const unique = [...new Set(userIds)];
    const entry = this.bySocket.get(socketId) ?? { tenantId, users: new Set<string>() };
    const added = unique.filter((u) => !entry.users.has(u));
    if (entry.users.size + added.length > this.maxPerSocket)
      throw new DomainError('too_many_follows', `A socket follows at most ${this.maxPerSocket} users (${entry.users.size} now)`);
    // Indexed before the states are read: a change in between is delivered, never lost.
    this.bySocket.set(socketId, entry);
    for (const userId of added) {
      entry.users.add(userId);
      const key = `${tenantId}|${userId}`;
      let set = this.followers.get(key);
      if (!set) this.followers.set(key, (set = new Set()));
      set.add(socketId);
    }
    return { following: entry.users.size, presence: await this.presence.states(tenantId, unique) };
  }

  unfollow(socketId: string, userIds: string[]): { following: number } {
    const entry = this.bySocket.get(socketId);
    if (!entry) return { following: 0 };
    for (const userId of userIds) if (entry.users.delete(userId)) this.drop(entry.tenantId, userId, socketId);
    if (!entry.users.size) this.bySocket.delete(socketId);
    return { following: entry.users.size };
  }

  /** On disconnect: the socket's follows are forgotten. */
  socketClosed(socketId: string): void {
    const entry = this.bySocket.get(socketId);
    if (!entry) return;
    for (const userId of entry.users) this.drop(entry.tenantId, userId, socketId);
    this.bySocket.delete(socketId);
  }

  /** Users followed on this pod (for tests and metrics). */
  get indexedUsers(): number {
    return this.followers.size;
  }

  async onApplicationShutdown(): Promise<void> {
    this.subscriber?.disconnect();
  }

  private drop(tenantId: string, userId: string, socketId: string): void {
    const key = `${tenantId}|${userId}`;
    const set = this.followers.get(key);
    set?.delete(socketId);
    if (set && !set.size) this.followers.delete(key);
  }

  private deliver(message: string): void {
    let change: PresenceChange;
    try {
      change = JSON.parse(message) as PresenceChange;
    } catch {
      return;
    }
    const sockets = this.followers.get(`${change.tenantId}|${change.userId}`);
    if (!sockets || !this.namespace) return;
    const channel = presenceChannel(change.userId);
    const payload = { userId: change.userId, status: change.status, lastSeen: change.lastSeen };
    for (const id of sockets) {
      const socket = this.namespace.sockets.get(id);
      // A socket also subscribed to presence:<userId> gets the update there already.
      if (socket && !socket.data.channels.has(channel)) socket.emit('presence:update', payload, { channel });
    }
  }
}
