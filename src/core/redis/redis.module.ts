import { Global, Module } from '@nestjs/common';
import { RedisMetrics } from './redis.metrics';
import { RedisService } from './redis.service';

@Global()
@Module({ providers: [RedisService, RedisMetrics], exports: [RedisService] })
export class RedisModule {}
