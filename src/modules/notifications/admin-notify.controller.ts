import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBadRequestResponse, ApiOperation, ApiServiceUnavailableResponse } from '@nestjs/swagger';
import { CurrentUser, ServerApi } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { validationFailed } from '../../core/http/domain-error';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { AdminNotifyDto, NotifyResponse, OfflineNotifyResponse } from './dto/notify.dto';
import { NotificationsService, NotifyRecipients } from './notifications.service';

/** Exactly one recipient kind, as the service's typed input wants it. */
function recipientsOf(dto: AdminNotifyDto): NotifyRecipients {
  const given = (['userIds', 'roles', 'topic', 'tenant'] as const).filter((k) => dto[k] !== undefined);
  const problems = [];
  if (given.length !== 1) problems.push({ field: 'recipients', messages: ['give exactly one of userIds, roles, topic or tenant'] });
  if (dto.onlyIfOffline && dto.userIds === undefined)
    problems.push({ field: 'onlyIfOffline', messages: ['onlyIfOffline goes with userIds'] });
  if (dto.viaTopic !== undefined && dto.tenant === undefined)
    problems.push({ field: 'viaTopic', messages: ['viaTopic goes with tenant: true'] });
  if (problems.length) throw validationFailed(problems);
  if (dto.userIds) return { userIds: dto.userIds };
  if (dto.roles) return { roles: dto.roles };
  if (dto.topic !== undefined) return { topic: dto.topic };
  return { tenant: true, viaTopic: dto.viaTopic };
}

@ServerApi()
@Controller('admin')
export class AdminNotifyController {
  constructor(private readonly notifications: NotificationsService) {}

  @Post('notify')
  @HttpCode(202)
  @ApiOperation({
    summary: "Notify users, roles, a topic or the whole of the caller's tenant",
    description:
      'Writes inbox entries for user recipients and queues the push; answers before delivery. ' +
      'The same idempotencyKey sends once and returns the first notification id.',
  })
  @ApiAcceptedResponse({ type: OfflineNotifyResponse, description: '`notified` and `skipped` only with onlyIfOffline' })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'code `validation_failed`' })
  @ApiServiceUnavailableResponse({
    type: ErrorResponse,
    description: 'code `database_unavailable` (retry after Retry-After); with Redis away the notification waits in the outbox',
  })
  notify(@CurrentUser() user: AuthUser, @Body() dto: AdminNotifyDto): Promise<NotifyResponse | OfflineNotifyResponse> {
    const recipients = recipientsOf(dto);
    const input = {
      tenantId: user.tenantId,
      recipients,
      title: dto.title,
      body: dto.body,
      data: dto.data,
      category: dto.category,
      priority: dto.priority,
      collapseKey: dto.collapseKey,
      ttlSeconds: dto.ttlSeconds,
      idempotencyKey: dto.idempotencyKey,
      badge: dto.badge,
      sound: dto.sound,
    };
    if (dto.onlyIfOffline && 'userIds' in recipients) return this.notifications.notifyIfOffline({ ...input, recipients });
    return this.notifications.notify(input);
  }
}
