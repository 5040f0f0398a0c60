import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { Cluster, ClusterNode, RedisOptions } from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { RedisUnavailableError } from './redis-errors';
import { RedisMetrics } from './redis.metrics';

/**
 * How a connection behaves while Redis is away.
 * - `fail-fast` (request paths: commands, rate limits, queue producers, the adapter's publisher):
 *   a command waits at most REDIS_COMMAND_TIMEOUT_MS, queued commands are dropped after one failed
 *   reconnect, and once a reconnect has failed (Redis is really away, not a blip) new commands fail
 *   at once, until the connection is ready again. The request answers 503 redis_unavailable.
 * - `patient` (the adapter's subscriber, BullMQ workers' blocking connections): commands wait for
 *   Redis however long it takes; subscriptions are renewed by ioredis on reconnect.
 */
export type RedisConnectionMode = 'fail-fast' | 'patient';

/** Reconnect quickly (Redis back within a second is noticed within a second), at most every second. */
const retryStrategy = (times: number) => Math.min(times * 100, 1000);

/**
 * The one place that opens ioredis connections. `client` serves ordinary commands; `create()`
 * opens dedicated ones (pub/sub, blocking BullMQ connections). Keys are built with `key()` so
 * every deployment (and every test run) lives under its own prefix. All are closed at shutdown.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  private readonly connections = new Set<Redis>();
  readonly client: Redis;
  readonly prefix: string;
  readonly commandTimeoutMs: number;
  /** REDIS_TOPOLOGY=cluster: keys that a script or transaction uses together must share a hash tag (see `tagged`). */
  readonly clustered: boolean;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: RedisMetrics,
  ) {
    this.prefix = config.redis.keyPrefix;
    this.clustered = config.redis.topology === 'cluster';
    this.commandTimeoutMs = config.redis.commandTimeoutMs;
    // Commands issued in the same tick go out in one write (one syscall instead of one each):
    // a burst of handshakes or publishes otherwise spends much of its CPU in write().
    this.client = this.create('commands', { enableAutoPipelining: true });
  }

  /** A prefixed key: key('presence', tenant) -> "tether:presence:<tenant>". */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /**
   * A key whose Redis Cluster slot is chosen by `tag`: on a cluster `<prefix>:{<tag>}:<parts>`, so
   * every key of one tag (a channel's log and its sequence, the presence hashes) sits on one node
   * and a Lua script or MULTI may use them together, while different tags spread over the masters.
   * Standalone and Sentinel keep the plain `key(...parts)` layout (no change on upgrade).
   */
  tagged(tag: string, ...parts: string[]): string {
    return this.clustered ? `${this.prefix}:{${tag}}:${parts.join(':')}` : this.key(...parts);
  }

  /** A new connection, tracked and closed at shutdown. */
  create(name: string, options: RedisOptions = {}, mode: RedisConnectionMode = 'fail-fast'): Redis {
    const defaults: RedisOptions =
      mode === 'fail-fast' ? { maxRetriesPerRequest: 1, commandTimeout: this.commandTimeoutMs } : { maxRetriesPerRequest: null };
    const connection = this.open({ connectionName: `tether:${name}`, retryStrategy, ...defaults, ...options });
    this.metrics.instrument(connection, name);
    let failedAttempts = 0;
    connection.on('error', (err) => {
      // One line per outage and connection, not one per reconnect attempt.
      if (failedAttempts <= 1) this.logger.warn(`redis ${name}: ${err.message}`);
    });
    connection.on('reconnecting', () => {
      failedAttempts++;
      // The first reconnect may be a blip (commands wait for it); after a failed one, fail at once.
      if (mode === 'fail-fast' && failedAttempts >= 2) connection.options.enableOfflineQueue = false;
    });
    connection.on('ready', () => {
      if (failedAttempts > 1) this.logger.log(`redis ${name}: connected again`);
      failedAttempts = 0;
      connection.options.enableOfflineQueue = options.enableOfflineQueue ?? true;
    });
    this.connections.add(connection);
    connection.once('end', () => this.connections.delete(connection));
    return connection;
  }

  /**
   * One connection in the configured topology. A Cluster is used through the Redis type: it
   * answers the same commands (and routes each by its key); pipelines and scripts must then keep
   * to one slot, which the callers' keys ensure (`tagged`).
   */
  private open(options: RedisOptions): Redis {
    const { url, topology, clusterNodes, sentinels, sentinelMaster, sentinelPassword } = this.config.redis;
    const parsed = new URL(url);
    // REDIS_URL's credentials and TLS, for the data nodes of every topology.
    const auth: RedisOptions = {
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    };
    if (topology === 'sentinel') {
      return new Redis({
        ...auth,
        ...options,
        sentinels: sentinels ?? [],
        name: sentinelMaster,
        ...(sentinelPassword ? { sentinelPassword } : {}),
        ...(auth.tls ? { enableTLSForSentinelMode: true } : {}),
        // Asks the sentinels again quickly after a failover, as the data connection does.
        sentinelRetryStrategy: retryStrategy,
      });
    }
    if (topology === 'cluster') {
      const seeds: ClusterNode[] = clusterNodes ?? [{ host: parsed.hostname, port: Number(parsed.port || 6379) }];
      const { enableAutoPipelining, enableOfflineQueue, enableReadyCheck, retryStrategy: retry, ...perNode } = options;
      const cluster = new Cluster(seeds, {
        redisOptions: { ...auth, ...perNode },
        ...(enableAutoPipelining !== undefined ? { enableAutoPipelining } : {}),
        ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
        ...(enableReadyCheck !== undefined ? { enableReadyCheck } : {}),
        clusterRetryStrategy: retry ?? retryStrategy,
        // SSUBSCRIBE per slot owner (the sharded Socket.IO adapter), renewed after a failover.
        shardedSubscribers: true,
        // A moved slot (failover, resharding) is followed at once rather than after a refresh.
        slotsRefreshTimeout: 2000,
        // TLS clusters (ElastiCache and the like): connect to the addresses the nodes announce as
        // given, so the certificate's name is checked against them and not a re-resolved IP.
        ...(auth.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
      });
      return cluster as unknown as Redis;
    }
    return new Redis(url, options);
  }

  /**
   * BullMQ's connection for queues (producers: `add` on request paths), which fails fast, and for
   * workers (`worker: true`), whose blocking commands need maxRetriesPerRequest: null.
   */
  bullmqConnection(name: string, { worker = false } = {}): { connection: Redis; prefix: string } {
    const connection = this.create(`bullmq:${name}`, {}, worker ? 'patient' : 'fail-fast');
    // On a cluster BullMQ needs its prefix in a hash tag: every key of a queue on one node.
    return { connection, prefix: this.clustered ? `{${this.key('bull')}}` : this.key('bull') };
  }

  /** True while the command connection is up; false while Redis is away (or not reached yet). */
  get isReady(): boolean {
    return this.client.status === 'ready';
  }

  /** Waits for `promise`, but at most `timeoutMs`: then fails with RedisUnavailableError. */
  async within<T>(promise: Promise<T>, timeoutMs = this.commandTimeoutMs, what = 'Redis'): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** PING with a deadline, for health checks: a dead Redis must not hang the probe. */
  async ping(timeoutMs = 1000): Promise<void> {
    await this.within(this.client.ping(), timeoutMs, 'PING');
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.connections].map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect())));
  }
}
