import { DeliveryIds } from './delivery-ids';
import { Module, OnModuleInit } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { HealthRegistry } from '../../core/health/health.registry';
import { OutboxService } from '../../core/outbox';
import { AppConfig } from '../../config/app-config';
import { RedisService } from '../../core/redis/redis.service';
import { chooseAdapter, RealtimeAdapterChoice } from './adapter-choice';
import { ChannelPresence } from './channel-presence';
import { ChannelSubscriptions, parseSubscribeRequest } from './channel-subscriptions';
import { ChannelPolicyRegistry } from './channels/channel-policy.registry';
import { ChannelTokenVerifier } from './channels/channel-token.verifier';
import { hostChannelPolicy } from './channels/host-channels';
import { SubscribeProxyClient } from './channels/subscribe-proxy.client';
import { ClientEventProxy } from './client-event.proxy';
import { ClientEventRegistry } from './client-event.registry';
import { ConnectionLimiter } from './connection-limiter';
import { EventLogService } from './event-log.service';
import { parseFollowRequest, PresenceFollows } from './presence-follows';
import { PresenceService } from './presence.service';
import { RealtimeController } from './realtime.controller';
import { RealtimeGateway } from './realtime.gateway';
import { RealtimeMetrics } from './realtime.metrics';
import { type PublishedEvent, REALTIME_EVENT, RealtimeService } from './realtime.service';
import { presenceChannel } from './channels/channel';
import { parseRefreshToken, SocketSupervisor } from './socket-supervisor';
import { TypingRelay, typingChannel } from './typing-relay';

/**
 * Realtime: the /realtime gateway, channel policies, the per-channel event log, presence.
 * Exports what other modules use: RealtimeService (publish, emitLive, local socket count),
 * ChannelPolicyRegistry (own a channel prefix), PresenceService (who is online), ChannelPresence
 * (turn on member lists for a channel prefix),
 * ClientEventRegistry (add a client event), TypingRelay (typing from REST).
 */
@Module({
  controllers: [RealtimeController],
  providers: [
    RealtimeGateway,
    ChannelSubscriptions,
    SocketSupervisor,
    TypingRelay,
    RealtimeService,
    RealtimeMetrics,
    ChannelPolicyRegistry,
    EventLogService,
    PresenceService,
    PresenceFollows,
    ChannelPresence,
    ConnectionLimiter,
    ClientEventRegistry,
    ChannelTokenVerifier,
    SubscribeProxyClient,
    ClientEventProxy,
    DeliveryIds,
    // Resolved while the app is built, before the gateway's server (and its adapter) is created.
    { provide: RealtimeAdapterChoice, inject: [AppConfig, RedisService], useFactory: chooseAdapter },
  ],
  exports: [RealtimeService, ChannelPolicyRegistry, PresenceService, ChannelPresence, ClientEventRegistry, TypingRelay, DeliveryIds],
})
export class RealtimeModule implements OnModuleInit {
  constructor(
    private readonly policies: ChannelPolicyRegistry,
    private readonly presence: PresenceService,
    private readonly realtime: RealtimeService,
    private readonly clientEvents: ClientEventRegistry,
    private readonly typing: TypingRelay,
    private readonly health: HealthRegistry,
    private readonly indicator: HealthIndicatorService,
    private readonly config: AppConfig,
    private readonly channelTokens: ChannelTokenVerifier,
    private readonly subscribeProxy: SubscribeProxyClient,
    private readonly outbox: OutboxService,
    private readonly follows: PresenceFollows,
  ) {}

  onModuleInit(): void {
    // Channels realtime itself owns. Rooms are tenant-prefixed, so "any member" means "of this tenant".
    this.policies.register('service:counts', () => true);
    this.policies.register('announcements', () => true);
    this.policies.register('user:', (user, channel) => channel.id === user.userId || { reason: 'forbidden' });
    this.policies.register('presence:', () => true);
    // Channels the host app owns: its subscription tokens or its subscribe proxy decide, or they
    // are public feeds, with an id (`promotions:<venueId>`) or without (`venue_updates`).
    const { prefixes, autoJoin } = this.config.hostChannels;
    for (const { prefix, modes } of prefixes) {
      const policy = hostChannelPolicy(modes, this.channelTokens, this.subscribeProxy);
      this.policies.register(`${prefix}:`, policy);
      if (modes.includes('public') && !this.policies.has(prefix)) this.policies.register(prefix, policy);
    }
    // Channels every socket joins at connect are public when nothing else owns them (the
    // activities app's `activity` feed, beside the token-guarded `activity:<id>`).
    for (const channel of autoJoin) if (!channel.includes(':') && !this.policies.has(channel)) this.policies.register(channel, () => true);

    // Durable events other modules record in the outbox (realtimeEvent) reach the log and sockets here.
    this.outbox.register(REALTIME_EVENT, (row, path) => this.realtime.publishRecorded(row, path));

    // Client events realtime itself answers; other modules register theirs the same way.
    const events = this.clientEvents;
    events.register('subscribe', (ctx, data) => ctx.subscribe(parseSubscribeRequest(data)));
    events.register('unsubscribe', (ctx, data) => ctx.unsubscribe(parseSubscribeRequest(data).channels));
    events.register('auth:refresh', (ctx, data) => ctx.refreshToken(parseRefreshToken(data)));
    const chatPrefixes = this.config.typingChatPrefixes;
    events.register('typing:start', (ctx, data) => this.typing.fromSocket(ctx, typingChannel(data, ctx.channels, chatPrefixes), true));
    events.register('typing:stop', (ctx, data) => this.typing.fromSocket(ctx, typingChannel(data, ctx.channels, chatPrefixes), false));
    events.register('presence:follow', (ctx, data) => this.follows.follow(ctx.socketId, ctx.user.tenantId, parseFollowRequest(data)));
    events.register('presence:unfollow', (ctx, data) => this.follows.unfollow(ctx.socketId, parseFollowRequest(data)));

    this.presence.onChange(({ tenantId, userId, status, lastSeen }) => {
      const channel = presenceChannel(userId);
      // Both names of the change (the SDK's and the messaging app's), logged in one round trip.
      const named: PublishedEvent =
        status === 'online'
          ? { event: 'user:online', payload: { userId } }
          : { event: 'user:offline', payload: { userId, lastSeen: lastSeen! } };
      const events: PublishedEvent[] = [{ event: 'presence:update', payload: { userId, status, lastSeen } }, named];
      // Logged only while someone reads the user's presence log (a Redis stream costs ~4.7 KB).
      void this.realtime.publishAll(tenantId, channel, events, { ifWatched: true }).catch(() => undefined);
    });

    // Down (not an exception) while Redis is away, so /health reports every check.
    this.health.register(() =>
      this.indicator
        .check('realtime')
        .attempt(async () => {
          const cluster = await this.presence.clusterSockets();
          return { podSockets: this.realtime.localSockets, clusterSockets: cluster.sockets, pods: cluster.pods };
        })
        .withTimeout(1500),
    );
  }
}
