import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule, ThrottlerStorage } from '@nestjs/throttler';
import { AppConfig } from '../../config/app-config';
import { RedisService } from '../redis/redis.service';
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
}

@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => ({
        throttlers: [{ name: 'default', ttl: 60_000, limit: config.http.rateLimitPerMinute }],
        // A fail-fast connection from RedisService (which closes it): with Redis away, counting
        // fails at once and RateLimitGuard lets the request through (fail open, see README).
        storage: new PrefixedStorage(new ThrottlerStorageRedisService(redis.create('throttle')), config.redis.keyPrefix),
      }),
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: RateLimitGuard }],
})
export class RateLimitModule {}
