import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { from, Observable, switchMap } from 'rxjs';
import type { AuthUser } from '../../core/auth/auth-user';
import { CommunityService } from './community.service';

/**
 * Makes sure every authenticated caller has a member row before their request runs (sync
 * visibility depends on it). Cached per pod, so it costs a database write once per user.
 */
@Injectable()
export class MemberEnrollmentInterceptor implements NestInterceptor {
  constructor(private readonly community: CommunityService) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const user = ctx.switchToHttp().getRequest<{ user?: AuthUser }>().user;
    if (!user) return next.handle();
    return from(this.community.ensureMember(user)).pipe(switchMap(() => next.handle()));
  }
}
