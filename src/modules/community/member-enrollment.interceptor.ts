import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { from, Observable, switchMap } from 'rxjs';
import type { AuthUser } from '../../core/auth/auth-user';
import { CommunityService } from './community.service';

/**
 * Makes sure the caller has a member row before a community route runs (what they may see and
 * do depends on it); sync pulls get the same through SyncRegistry.beforeRead. Remembered per pod,
 * so it costs a database write once per user.
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
