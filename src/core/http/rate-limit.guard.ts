import { Injectable } from '@nestjs/common';
import { ThrottlerException, ThrottlerGuard, ThrottlerRequest } from '@nestjs/throttler';
import type { AuthUser } from '../auth/auth-user';

/**
 * The throttler, counted in Redis so limits hold across pods. Authenticated callers are counted
 * per user (seed 000's limits are per user), anonymous ones per IP. If Redis cannot count, the
 * request goes through: an outage of the limiter must not become an outage of the API.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected async getTracker(req: Record<string, unknown>): Promise<string> {
    const user = req.user as AuthUser | undefined;
    return user ? `user:${user.tenantId}:${user.userId}` : `ip:${await super.getTracker(req)}`;
  }

  protected async handleRequest(request: ThrottlerRequest): Promise<boolean> {
    try {
      return await super.handleRequest(request);
    } catch (err) {
      if (err instanceof ThrottlerException) throw err;
      this.logger.warn(`rate limit not counted: ${(err as Error).message}`);
      return true;
    }
  }
}
