import { ExecutionContext, Injectable } from '@nestjs/common';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerException,
  ThrottlerGuard,
  ThrottlerModuleOptions,
  ThrottlerRequest,
  ThrottlerStorage,
} from '@nestjs/throttler';
import { Reflector } from '@nestjs/core';
import { AppConfig } from '../../config/app-config';
import type { AuthUser } from '../auth/auth-user';

/**
 * The throttler, counted in Redis so limits hold across pods. Authenticated callers are counted
 * per user (the church app's limits are per user), anonymous ones per IP. If Redis cannot count, the
 * request goes through (fail open, logged once per outage): an outage of the limiter must not
 * become an outage of the API, and its connection fails fast, so the request is not held up.
 * Callers with an exempt role (RATE_LIMIT_EXEMPT_ROLES, default SERVICE: backends publishing
 * through the server API at their own pace) are not counted by any limit.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  private readonly exemptRoles: Set<string>;
  private counting = true;

  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    config: AppConfig,
  ) {
    super(options, storage, reflector);
    this.exemptRoles = new Set(config.http.rateLimitExemptRoles);
  }

  protected async shouldSkip(context: ExecutionContext): Promise<boolean> {
    const user = context.switchToHttp().getRequest<{ user?: AuthUser }>().user;
    return Boolean(user?.roles.some((r) => this.exemptRoles.has(r))) || super.shouldSkip(context);
  }
  protected async getTracker(req: Record<string, unknown>): Promise<string> {
    const user = req.user as AuthUser | undefined;
    return user ? `user:${user.tenantId}:${user.userId}` : `ip:${await super.getTracker(req)}`;
  }

  protected async handleRequest(request: ThrottlerRequest): Promise<boolean> {
    try {
      const allowed = await super.handleRequest(request);
      if (!this.counting) this.logger.log('rate limits are counted again');
      this.counting = true;
      return allowed;
    } catch (err) {
      if (err instanceof ThrottlerException) throw err;
      if (this.counting) this.logger.warn(`rate limits not counted (requests go through) until Redis answers: ${(err as Error).message}`);
      this.counting = false;
      return true;
    }
  }
}
