import { applyDecorators, ExecutionContext } from '@nestjs/common';
import { Throttle } from '@nestjs/throttler';
import type { Request } from 'express';

/** Where SyncModule puts this app's configured limits (per app: tests boot several in one process). */
export const SYNC_LIMITS_LOCAL = 'tetherSyncLimits';

export interface SyncLimits {
  reads: number;
  bulk: number;
}

const FALLBACK: SyncLimits = { reads: 30, bulk: 10 };

/**
 * Seed 000's per-user limits, counted in Redis by the global rate-limit guard: `reads` are shared by
 * every GET /sync/* route, `bulk` by every bulk mutation route. 429 answers carry Retry-After.
 */
export function SyncThrottle(kind: keyof SyncLimits): MethodDecorator & ClassDecorator {
  return applyDecorators(
    Throttle({
      default: {
        ttl: 60_000,
        limit: (ctx: ExecutionContext) =>
          (ctx.switchToHttp().getRequest<Request>().app?.locals?.[SYNC_LIMITS_LOCAL] as SyncLimits | undefined)?.[kind] ?? FALLBACK[kind],
        generateKey: (_ctx, tracker, name) => `${name}:sync-${kind}:${tracker}`,
      },
    }),
  );
}
