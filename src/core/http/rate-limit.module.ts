import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule, ThrottlerStorage } from '@nestjs/throttler';
import { AppConfig } from '../../config/app-config';
import { RateLimitGuard } from './rate-limit.guard';

/** Keeps every throttler key under the deployment's Redis prefix. */
class PrefixedStorage implements ThrottlerStorage {
  constructor(
    private readonly inner: ThrottlerStorageRedisService,
    private readonly prefix: string,
  ) {}
  increment(key: string, ttl: number, limit: number, blockDuration: number, name: string) {
    return this.inner.increment(`${this.prefix}:throttle:${key}`, ttl, limit, blockDuration, name);
  }
  onModuleDestroy() {
    this.inner.onModuleDestroy();
  }
}

@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        throttlers: [{ name: 'default', ttl: 60_000, limit: config.http.rateLimitPerMinute }],
        // A URL, not a client: the storage then owns the connection and closes it (STACK.md).
        storage: new PrefixedStorage(
          new ThrottlerStorageRedisService(config.redis.url, { maxRetriesPerRequest: 1, connectionName: 'tether:throttle' }),
          config.redis.keyPrefix,
        ),
      }),
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: RateLimitGuard }],
})
export class RateLimitModule {}
