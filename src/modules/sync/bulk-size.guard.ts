import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { DomainError } from '../../core/http/domain-error';
import { MAX_BULK_ITEMS } from './sync-mutation.service';

/**
 * Refuses a bulk request with more than MAX_BULK_ITEMS items as 413 before the body is validated
 * (guards run before pipes), so an oversized batch costs nothing.
 */
@Injectable()
export class BulkSizeGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    const body = ctx.switchToHttp().getRequest<Request>().body as Record<string, unknown> | undefined;
    for (const value of Object.values(body ?? {}))
      if (Array.isArray(value) && value.length > MAX_BULK_ITEMS)
        throw new DomainError('payload_too_large', `At most ${MAX_BULK_ITEMS} items per request; split the batch`, 413, [
          { max: MAX_BULK_ITEMS, received: value.length },
        ]);
    return true;
  }
}
