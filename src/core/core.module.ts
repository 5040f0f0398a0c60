import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthModule } from './auth/auth.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { AllExceptionsFilter } from './http/all-exceptions.filter';
import { RateLimitModule } from './http/rate-limit.module';
import { IdempotencyModule } from './idempotency/idempotency.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { OutboxModule } from './outbox/outbox.module';
import { RedisModule } from './redis/redis.module';

/** What every feature module stands on. Import order matters for global guards: auth, then limits. */
@Module({
  imports: [
    LoggingModule,
    DatabaseModule,
    RedisModule,
    AuthModule,
    RateLimitModule,
    HealthModule,
    MetricsModule,
    OutboxModule,
    IdempotencyModule,
  ],
  providers: [{ provide: APP_FILTER, useClass: AllExceptionsFilter }],
})
export class CoreModule {}
