import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type Redis from 'ioredis';
import type { Server, ServerOptions } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import { RedisUnavailableError } from '../../core/redis/redis-errors';
import { RedisService } from '../../core/redis/redis.service';
import { RealtimeAdapterChoice } from './adapter-choice';
import { deliveryGate } from './delivery-gate';
import { attachPlainWebSocket } from './plain-ws/plain-websocket';
import { RealtimeMetrics } from './realtime.metrics';

/**
 * The classic adapter publishes without awaiting or catching: with a publisher that fails fast,
 * each of those rejections would go unhandled (and end the process). They are dropped here, as
 * the cluster adapter drops its own.
 */
function handledPublishes(pub: Redis): Redis {
  for (const name of ['publish', 'spublish'] as const) {
    const original = pub[name].bind(pub) as (...args: unknown[]) => Promise<number>;
    (pub as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const sent = original(...args);
      sent.catch(() => undefined);
      return sent;
    };
  }
  return pub;
}

/**
 * The SSUBSCRIBEs the sharded adapter sends, by channel, until Redis answers them: a join can wait
 * for its room's subscription without sending it a second time (one command per new room, on the
 * handshake's path for every user's own room).
 */
function trackSubscriptions(sub: Redis): Map<string, Promise<unknown>> {
  const pending = new Map<string, Promise<unknown>>();
  const original = sub.ssubscribe.bind(sub) as (...channels: string[]) => Promise<unknown>;
  (sub as unknown as Record<string, unknown>).ssubscribe = (...channels: string[]) => {
    const sent = original(...channels);
    const settled = () => {
      for (const channel of channels) if (pending.get(channel) === sent) pending.delete(channel);
    };
    sent.then(settled, settled); // rejected only at shutdown; never left unhandled
    for (const channel of channels) pending.set(channel, sent);
    return sent;
  };
  return pending;
}

/** What ChannelSubscriptions needs from the adapter beyond Socket.IO's own API. */
export interface RoomSubscriptions {
  whenSubscribed(room: string): Promise<void>;
}

/**
 * The one place Socket.IO meets Redis: every namespace gets the Redis adapter (sharded or
 * classic, per REALTIME_ADAPTER and what Redis supports: RealtimeAdapterChoice) over ioredis, wrapped by the delivery gate that lets a
 * recovering socket receive its missed events before live ones.
 */
export class RedisIoAdapter extends IoAdapter {
  private readonly config: AppConfig;
  private readonly redis: RedisService;

  constructor(private readonly app: INestApplicationContext) {
    super(app);
    this.config = app.get(AppConfig);
    this.redis = app.get(RedisService);
  }

  /**
   * Nest wires @SubscribeMessage handlers and a disconnect hook into every socket through rxjs
   * (an Observable chain and a listener per socket, ~1 KB each). Tether's gateways register no
   * such handlers (they dispatch client events themselves, from `afterInit`), so sockets without
   * handlers skip that plumbing.
   */
  override bindMessageHandlers(...args: Parameters<IoAdapter['bindMessageHandlers']>): void {
    const [, handlers] = args;
    if (handlers.length) super.bindMessageHandlers(...args);
  }

  /** Only feeds `handleDisconnect`, which no Tether gateway implements (see bindMessageHandlers). */
  override bindClientDisconnect(): void {}

  createIOServer(port: number, options?: ServerOptions): Server {
    const realtime = this.config.realtime;
    const { mode, refusal } = this.app.get(RealtimeAdapterChoice);
    if (refusal) throw new Error(refusal);
    const server: Server = super.createIOServer(port, {
      ...options,
      path: '/socket.io',
      transports: ['polling', 'websocket'],
      pingInterval: realtime.pingIntervalMs,
      pingTimeout: 20_000,
      maxHttpBufferSize: realtime.maxMessageBytes,
      cors: { origin: this.config.http.corsOrigins, credentials: true },
      // Upgrades for other paths are the plain WebSocket endpoint's (it closes unknown ones).
      destroyUpgrade: false,
    } as ServerOptions);
    if (this.httpServer)
      attachPlainWebSocket(this.httpServer, server, { maxPayload: realtime.maxMessageBytes, socketIoPath: '/socket.io' });
    // The publisher fails fast: with Redis away a broadcast still reaches this pod's sockets at
    // once (the cluster adapter awaits the publish before local delivery) and nothing piles up;
    // durable events are in the channel log, and live ones may be lost. The subscriber waits:
    // ioredis renews its subscriptions after a reconnect (node-redis does not), so cross-pod
    // delivery resumes by itself when Redis is back.
    const pub = handledPublishes(this.redis.create('socket.io:pub', { enableAutoPipelining: true }));
    // No ready check (INFO) on the subscriber: (S)SUBSCRIBE may be written during the connection's
    // handshake, and an INFO sent after it is refused in subscriber mode, failing the connection.
    const sub = this.redis.create('socket.io:sub', { enableReadyCheck: false }, 'patient');
    const key = this.redis.key('sio');
    const metrics = this.app.get(RealtimeMetrics);
    metrics.adapter.set({ mode }, 1);
    const factory: (nsp: unknown) => object =
      mode === 'sharded'
        ? createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode: 'dynamic' })
        : createAdapter(pub, sub, { key });
    const redis = this.redis;
    const gated = deliveryGate(factory, (n) => metrics.delivered.inc(n));
    const pending = mode === 'sharded' ? trackSubscriptions(sub) : new Map<string, Promise<unknown>>();
    // Socket.IO calls this with `new`, so it must be a function, not an arrow.
    server.adapter(function tetherAdapter(nsp: { name: string }) {
      const adapter = gated(nsp) as object as RoomSubscriptions;
      // With the sharded adapter a pod subscribes to a room's Redis channel when its first socket
      // joins; SSUBSCRIBE is asynchronous. Waiting for that SSUBSCRIBE's answer means a subscribe
      // ack, or a replay of missed events, never runs ahead of live delivery.
      // With Redis away this fails (RedisUnavailableError) at once, or after the command timeout
      // if Redis stops answering; the SSUBSCRIBE stays queued and goes out on reconnect.
      const subscribed = (room: string) => {
        const sent = pending.get(`${key}#${nsp.name}#${room}#`);
        if (!sent) return Promise.resolve();
        if (sub.status !== 'ready') return Promise.reject(new RedisUnavailableError('Redis is away: room subscription pending'));
        return redis.within(sent, undefined, 'SSUBSCRIBE').then(() => undefined);
      };
      adapter.whenSubscribed = mode === 'sharded' ? subscribed : () => Promise.resolve();
      return adapter;
    } as unknown as Parameters<Server['adapter']>[0]);
    return server;
  }
}
