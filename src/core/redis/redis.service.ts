import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { AppConfig } from '../../config/app-config';

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

  constructor(private readonly config: AppConfig) {
    this.prefix = config.redis.keyPrefix;
    // Commands issued in the same tick go out in one write (one syscall instead of one each):
    // a burst of handshakes or publishes otherwise spends much of its CPU in write().
    this.client = this.create('commands', { enableAutoPipelining: true });
  }

  /** A prefixed key: key('presence', tenant) -> "tether:presence:<tenant>". */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /** A new connection, tracked and closed at shutdown. */
  create(name: string, options: RedisOptions = {}): Redis {
    const connection = new Redis(this.config.redis.url, {
      connectionName: `tether:${name}`,
      // Do not pile up commands forever while Redis is away; callers get an error instead.
      maxRetriesPerRequest: 3,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      ...options,
    });
    connection.on('error', (err) => this.logger.warn(`redis ${name}: ${err.message}`));
    this.connections.add(connection);
    connection.once('end', () => this.connections.delete(connection));
    return connection;
  }

  /** Options for BullMQ queues and workers (they need maxRetriesPerRequest: null). */
  bullmqConnection(name: string): { connection: Redis; prefix: string } {
    return { connection: this.create(`bullmq:${name}`, { maxRetriesPerRequest: null }), prefix: this.key('bull') };
  }

  /** PING with a deadline, for health checks: a dead Redis must not hang the probe. */
  async ping(timeoutMs = 1000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.client.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(
      [...this.connections].map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect())),
    );
  }
}
