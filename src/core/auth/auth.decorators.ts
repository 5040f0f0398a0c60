import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ErrorResponse } from '../http/error-response.dto';
import type { AuthUser, Role } from './auth-user';

export const IS_PUBLIC = 'tether:public';
export const REQUIRED_ROLES = 'tether:roles';

/** The route needs no access token (health, metrics, docs). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** The caller needs at least one of these roles. */
export const Roles = (...roles: Role[]) => SetMetadata(REQUIRED_ROLES, roles);

/** A controller of the server API: backends and operators (role SERVICE or ADMIN), documented as such. */
export const ServerApi = () =>
  applyDecorators(
    ApiTags('server API'),
    ApiBearerAuth(),
    Roles('SERVICE', 'ADMIN'),
    ApiUnauthorizedResponse({ type: ErrorResponse, description: 'Missing, invalid or expired access token' }),
    ApiForbiddenResponse({ type: ErrorResponse, description: 'code `forbidden`: needs role SERVICE or ADMIN' }),
  );

/** The verified caller: `{userId, tenantId, roles, expiresAt}`. */
export const CurrentUser = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): AuthUser => ctx.switchToHttp().getRequest<{ user: AuthUser }>().user,
);
