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
    // One transaction per key (each may live on another Redis Cluster node); sent together.
    const count = async (key: string) => {
      const results = await this.redis.client.multi().incr(key).expire(key, 61).exec();
      const [err, value] = results?.[0] ?? [null, 0];
      if (err) throw err;
      return Number(value);
    };
    const [ipCount, userCount] = await Promise.all([count(ipKey), count(userKey)]);
    const { connectsPerMinutePerIp, connectsPerMinutePerUser } = this.config.realtime;
    if (ipCount > connectsPerMinutePerIp || userCount > connectsPerMinutePerUser) return 60 - (Math.floor(Date.now() / 1000) % 60);
    return 0;
  }
}
