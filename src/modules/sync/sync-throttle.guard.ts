import { applyDecorators, ExecutionContext, Injectable, SetMetadata, UseGuards } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InjectThrottlerOptions, InjectThrottlerStorage, SkipThrottle, ThrottlerModuleOptions, ThrottlerStorage } from '@nestjs/throttler';
import { AppConfig } from '../../config/app-config';
import { RateLimitGuard } from '../../core/http/rate-limit.guard';

/** `reads`: every GET /sync/* route together; `bulk`: every bulk mutation route together. */
export type SyncLimitKind = 'reads' | 'bulk';

const SYNC_LIMIT = 'tether:sync-limit';
const MINUTE = 60_000;

/**
 * The church community app's per-user sync limits (SYNC_READS_PER_MINUTE, SYNC_BULK_PER_MINUTE),
 * in place of the global limit on the routes marked with SyncThrottle. The app's rate-limit guard
 * counts them (in Redis, per user, exempt roles skipped, 429 with Retry-After); only the limit and
 * the bucket differ.
 */
@Injectable()
export class SyncThrottleGuard extends RateLimitGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly config: AppConfig,
  ) {
    super(options, storage, reflector, config);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const kind = this.reflector.getAllAndOverride<SyncLimitKind>(SYNC_LIMIT, [context.getHandler(), context.getClass()]);
    if (!kind || (await this.shouldSkip(context))) return true;
    const limit = kind === 'reads' ? this.config.sync.readsPerMinute : this.config.sync.bulkPerMinute;
    return this.handleRequest({
      context,
      limit,
      ttl: MINUTE,
      blockDuration: MINUTE,
      throttler: { name: 'default', limit, ttl: MINUTE },
      getTracker: (req) => this.getTracker(req),
      generateKey: (_context, tracker, name) => `${name}:sync-${kind}:${tracker}`,
    });
  }
}

/** Counts the route (or every route of the controller) against a sync limit instead of the global one. */
export function SyncThrottle(kind: SyncLimitKind): MethodDecorator & ClassDecorator {
  return applyDecorators(SkipThrottle(), SetMetadata(SYNC_LIMIT, kind), UseGuards(SyncThrottleGuard));
}
