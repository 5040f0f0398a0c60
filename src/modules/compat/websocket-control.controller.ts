import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentUser, Roles } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { CATEGORIES, Category, NotificationsService } from '../notifications';
import { channelOfRoom, ChannelPolicyRegistry, externalEvent, parseChannel, PresenceService, RealtimeService } from '../realtime';
import { invalidField } from '../../core/http/domain-error';
import { WebsocketControlDto, WebsocketStatusResponse } from './dto/websocket-control.dto';

/** The venues app's server control path, kept outside the api/mobile/v1 prefix (app.setup.ts excludes it). */
export const WEBSOCKET_CONTROL_PATH = 'api/websocket';

/**
 * The venues app's "WebSocket control endpoints" for backends written against it: `broadcast` is
 * POST /admin/broadcast (logged, on every pod, to Socket.IO and plain WebSocket clients alike) and
 * `notify` is POST /admin/notify for one user (inbox, push, and `notification:new` on their sockets,
 * carrying the app's notification object as it was sent).
 */
@ApiTags('realtime')
@ApiBearerAuth()
@ApiBadRequestResponse({ type: ErrorResponse })
@ApiForbiddenResponse({ type: ErrorResponse })
@Roles('SERVICE', 'ADMIN')
@Controller(WEBSOCKET_CONTROL_PATH)
export class WebsocketControlController {
  constructor(
    private readonly realtime: RealtimeService,
    private readonly policies: ChannelPolicyRegistry,
    private readonly notifications: NotificationsService,
    private readonly presence: PresenceService,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Broadcast to a channel or notify a user (the venues app’s control shape)' })
  @ApiAcceptedResponse({
    description:
      '`{ok, action, channel, event, offset}` or `{ok, action, notificationId}`; with onlyIfOffline also `skipped` ' +
      '(true, with `notificationId: null` and `reason: "online"`, when the user was online: nothing stored or pushed)',
  })
  async control(@CurrentUser() user: AuthUser, @Body() dto: WebsocketControlDto): Promise<Record<string, unknown>> {
    if (dto.action === 'broadcast') {
      const channel = channelOfRoom(dto.channel!, (key) => this.policies.has(key));
      if (!parseChannel(channel)) throw invalidField('channel', `"${dto.channel}" is not a channel name`);
      const event = dto.event ?? 'broadcast';
      const offset = await this.realtime.publish(user.tenantId, channel, externalEvent(event), dto.data);
      return { ok: true, action: 'broadcast', channel, event, offset };
    }
    const { title, message, body, type, data } = dto.data as Record<string, unknown>;
    const input = {
      tenantId: user.tenantId,
      recipients: { userIds: [dto.userId!] },
      title: typeof title === 'string' ? title : undefined,
      body: typeof message === 'string' ? message : typeof body === 'string' ? body : undefined,
      data: stringMap({ ...(typeof type === 'string' ? { type } : {}), ...(isObject(data) ? data : {}) }),
      category: CATEGORIES.includes(type as Category) ? (type as Category) : 'system',
      // The socket event is the app's own object as it was sent (its id, type, message...), with
      // Tether's fields beside it (Tether's id as notificationId).
      event: dto.data,
    };
    if (dto.onlyIfOffline) {
      const result = await this.notifications.notifyIfOffline(input);
      // The user is online: nothing stored or pushed (their app is open; the host's own event reaches it).
      if (!result.notificationId) return { ok: true, action: 'notify', notificationId: null, skipped: true, reason: 'online' };
      return { ok: true, action: 'notify', notificationId: result.notificationId, skipped: false };
    }
    const result = await this.notifications.notify(input);
    return { ok: true, action: 'notify', notificationId: result.notificationId };
  }

  @Get()
  @ApiOperation({ summary: 'Connections on this pod and across the cluster (the venues app’s status shape)' })
  @ApiOkResponse({ type: WebsocketStatusResponse })
  async status(): Promise<WebsocketStatusResponse> {
    const sockets = this.realtime.localSockets;
    return {
      status: 'running',
      connections: sockets,
      pod: { id: this.presence.podId, sockets },
      cluster: await this.presence.clusterSockets(),
    };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Push data carries strings only: other values travel as JSON. */
function stringMap(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
}
