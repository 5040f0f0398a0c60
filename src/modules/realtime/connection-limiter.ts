import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { RedisService } from '../../core/redis/redis.service';

/**
 * Connection attempts per minute per IP and per user, counted in Redis so the limit holds across
 * pods (a reconnect storm after a pod dies lands on the others). Fixed one-minute windows.
 */
@Injectable()
export class ConnectionLimiter {
  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  /** Counts one attempt; resolves to the seconds to wait if over a limit, else 0. */
  async hit(ip: string, tenantId: string, userId: string): Promise<number> {
    const window = Math.floor(Date.now() / 60_000);
    const ipKey = this.redis.key('rt', 'connrate', 'ip', ip, String(window));
    const userKey = this.redis.key('rt', 'connrate', 'user', tenantId, userId, String(window));
    const results = await this.redis.client.multi().incr(ipKey).expire(ipKey, 61).incr(userKey).expire(userKey, 61).exec();
    const ipCount = Number(results?.[0]?.[1] ?? 0);
    const userCount = Number(results?.[2]?.[1] ?? 0);
    const { connectsPerMinutePerIp, connectsPerMinutePerUser } = this.config.realtime;
    if (ipCount > connectsPerMinutePerIp || userCount > connectsPerMinutePerUser) return 60 - (Math.floor(Date.now() / 1000) % 60);
    return 0;
  }
}
