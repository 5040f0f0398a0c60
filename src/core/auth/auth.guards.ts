import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { PinoLogger } from 'nestjs-pino';
import { TenantScope } from '../database/tenant-scope';
import { ForbiddenError } from '../http/domain-error';
import { IS_PUBLIC, REQUIRED_ROLES } from './auth.decorators';
import type { AuthUser, Role } from './auth-user';
import { TokenVerifier } from './token-verifier.service';

export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Global guard: every HTTP route needs a valid bearer token unless marked @Public(). */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
    private readonly logger: PinoLogger,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const req = ctx.switchToHttp().getRequest<Request & { user?: AuthUser }>();
    req.user = await this.verifier.verify(bearerToken(req.headers.authorization));
    this.logger.assign({ userId: req.user.userId, tenantId: req.user.tenantId });
    TenantScope.enter(req.user.tenantId); // the request's database work sees this tenant's rows only
    return true;
  }
}

/** Global guard: enforces @Roles(...) after authentication. */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(ctx: ExecutionContext): boolean {
    if (ctx.getType() !== 'http') return true;
    const required = this.reflector.getAllAndOverride<Role[]>(REQUIRED_ROLES, [ctx.getHandler(), ctx.getClass()]);
    if (!required?.length) return true;
    const user = ctx.switchToHttp().getRequest<{ user?: AuthUser }>().user;
    if (user && user.roles.some((r) => required.includes(r))) return true;
    throw new ForbiddenError('forbidden', `This action needs one of the roles: ${required.join(', ')}`);
  }
}
