import { Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { isRedisUnavailableError } from '../../core/redis/redis-errors';
import { RedisService } from '../../core/redis/redis.service';

export type AdapterMode = 'sharded' | 'classic';

/**
 * The Socket.IO Redis adapter this process runs, chosen once at boot (chooseAdapter); or why it
 * must not start (`refusal`, raised where the adapter is created, so the app's start fails with it).
 */
export class RealtimeAdapterChoice {
  constructor(
    readonly mode: AdapterMode,
    readonly refusal?: string,
  ) {}
}

type Probe = { supported: true } | { supported: false; refusal: string } | { unreachable: string };

/**
 * Asks Redis for what the sharded adapter sends: SPUBLISH, SSUBSCRIBE and SUNSUBSCRIBE, on a
 * short-lived connection of its own (subscribing changes a connection's mode). Hosted Redis such
 * as Upstash, and Redis before 7, answer `ERR unknown command`.
 */
async function probeShardedPubSub(redis: RedisService): Promise<Probe> {
  const connection = redis.create('adapter-probe');
  const channel = redis.key('sio-probe');
  try {
    await redis.within(connection.spublish(channel, ''), undefined, 'SPUBLISH');
    await redis.within(connection.ssubscribe(channel), undefined, 'SSUBSCRIBE');
    await redis.within(connection.sunsubscribe(channel), undefined, 'SUNSUBSCRIBE');
    return { supported: true };
  } catch (err) {
    const message = (err as Error).message;
    return isRedisUnavailableError(err) ? { unreachable: message } : { supported: false, refusal: message };
  } finally {
    connection.disconnect();
  }
}

/**
 * REALTIME_ADAPTER=sharded needs sharded pub/sub, which some managed Redis lack. Checked at boot:
 * without it the classic adapter runs instead, with one warning, or, with REALTIME_ADAPTER_STRICT,
 * the process refuses to start. (Not thrown here: an error while Nest builds providers exits the
 * process at once, while one from app.init() reaches the caller, and main.ts prints it in one line.) A Redis that cannot be reached at boot cannot be asked: the
 * configured adapter runs, with a warning saying so.
 */
export async function chooseAdapter(config: AppConfig, redis: RedisService): Promise<RealtimeAdapterChoice> {
  const { adapter, adapterStrict } = config.realtime;
  if (adapter === 'classic') return new RealtimeAdapterChoice('classic');
  const logger = new Logger('RealtimeAdapter');
  const probe = await probeShardedPubSub(redis);
  if ('unreachable' in probe) {
    logger.warn(`could not check that Redis supports sharded pub/sub (${probe.unreachable}): using the sharded adapter as configured`);
    return new RealtimeAdapterChoice('sharded');
  }
  if (probe.supported) return new RealtimeAdapterChoice('sharded');
  const refusal = probe.refusal.split(', with args')[0];
  if (adapterStrict)
    return new RealtimeAdapterChoice(
      'sharded',
      `REALTIME_ADAPTER=sharded with REALTIME_ADAPTER_STRICT=true, but this Redis has no sharded pub/sub (${refusal}): ` +
        'use Redis 7 or later, or set REALTIME_ADAPTER=classic',
    );
  logger.warn(
    `this Redis has no sharded pub/sub (${refusal}): using the classic Socket.IO adapter (every pod receives every broadcast); ` +
      'set REALTIME_ADAPTER=classic to say so, or REALTIME_ADAPTER_STRICT=true to refuse to start instead',
  );
  return new RealtimeAdapterChoice('classic');
}
