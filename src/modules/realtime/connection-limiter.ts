import { Injectable, OnModuleInit } from '@nestjs/common';
import DataLoader from 'dataloader';
import type Redis from 'ioredis';
import { AppConfig } from '../../config/app-config';
import { RedisService } from '../../core/redis/redis.service';

// One attempt per key in fixed windows. KEYS: the windows' counters (a key may repeat: each
// occurrence is one attempt). ARGV: their lifetime in seconds. Returns the counts, in order.
const HITS = `
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts`;

type RedisWithLimiter = Redis & { tetherConnectionHits(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]> };

/** Longer than a window, so a counter outlives the minute it counts. */
const WINDOW_TTL_SECONDS = 61;

/**
 * Connection attempts per minute per IP and per user, counted in Redis so the limit holds across
 * pods (a reconnect storm after a pod dies lands on the others). Fixed one-minute windows.
 *
 * The handshakes of one event-loop turn are counted together, in one script call: in a storm a pod
 * takes hundreds of handshakes a second, and one Redis command each was a good part of what a
 * handshake costs. The counters share one hash tag, so on a Redis Cluster that call stays on one node.
 */
@Injectable()
export class ConnectionLimiter implements OnModuleInit {
  private readonly counters = new DataLoader<string, number>((keys) => this.count(keys), {
    cache: false,
    batchScheduleFn: (send) => setImmediate(send),
    maxBatchSize: 1000,
  });

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.redis.client.defineCommand('tetherConnectionHits', { lua: HITS });
  }

  /** Counts one attempt; resolves to the seconds to wait if over a limit, else 0. */
  async hit(ip: string, tenantId: string, userId: string): Promise<number> {
    const window = String(Math.floor(Date.now() / 60_000));
    const [ipCount, userCount] = await Promise.all([
      this.counters.load(this.redis.tagged('connrate', 'rt', 'connrate', 'ip', ip, window)),
      this.counters.load(this.redis.tagged('connrate', 'rt', 'connrate', 'user', tenantId, userId, window)),
    ]);
    const { connectsPerMinutePerIp, connectsPerMinutePerUser } = this.config.realtime;
    if (ipCount > connectsPerMinutePerIp || userCount > connectsPerMinutePerUser) return 60 - (Math.floor(Date.now() / 1000) % 60);
    return 0;
  }

  private count(keys: readonly string[]): Promise<number[]> {
    return (this.redis.client as RedisWithLimiter).tetherConnectionHits(keys.length, ...keys, WINDOW_TTL_SECONDS);
  }
}
