import { DeliveryIds } from './delivery-ids';
import { Body, Controller, Get, Headers, HttpCode, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Throttle } from '@nestjs/throttler';
import { CurrentUser, Roles } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { DomainError, ForbiddenError } from '../../core/http/domain-error';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { ChannelPolicyRegistry } from './channels/channel-policy.registry';
import {
  BroadcastDto,
  BroadcastResponse,
  EventsQuery,
  EventsResponse,
  PresenceQuery,
  PresenceResponse,
  RealtimeStatus,
} from './dto/realtime.dto';
import { EventLogService, InvalidOffsetError } from './event-log.service';
import { PresenceService } from './presence.service';
import { externalEvent } from './realtime.events';
import { RealtimeService } from './realtime.service';

@ApiTags('realtime')
@ApiBearerAuth()
@ApiBadRequestResponse({ type: ErrorResponse })
@ApiForbiddenResponse({ type: ErrorResponse })
@Controller()
export class RealtimeController {
  constructor(
    private readonly policies: ChannelPolicyRegistry,
    private readonly log: EventLogService,
    private readonly realtime: RealtimeService,
    private readonly presence: PresenceService,
    private readonly deliveryIds: DeliveryIds,
  ) {}

  @Get('realtime/events')
  @Throttle({ default: { limit: 120, ttl: 60_000 } })
  @ApiOperation({
    summary: 'Missed events of a channel (polling fallback)',
    description:
      'The same per-channel log the socket replays from, with the same authorization. Poll with the last `offset`, or ' +
      'start from a time (ISO or epoch milliseconds). `recovered: false` means the log no longer reaches back to `since` ' +
      '(trimmed, expired, or Redis lost its data): the page then holds what the log still has, oldest first, and ' +
      'something may be missing before it: reload over REST, then keep polling from `offset`.',
  })
  @ApiOkResponse({ type: EventsResponse })
  @ApiHeader({
    name: 'X-Channel-Token',
    required: false,
    description: 'Subscription token for a host-owned channel (or the `token` query parameter)',
  })
  async events(
    @CurrentUser() user: AuthUser,
    @Query() query: EventsQuery,
    @Headers('x-channel-token') channelToken?: string,
  ): Promise<EventsResponse> {
    const decision = await this.policies.authorize(user, query.channel, { token: channelToken || query.token });
    if (!decision.allowed) throw new ForbiddenError('channel_forbidden', `Not allowed on ${query.channel}: ${decision.reason}`);
    try {
      const result = await this.log.read(user.tenantId, query.channel, query.since, query.limit ?? 100, { partial: true });
      // Events their recipients acknowledge name their delivery, as on the socket (POST /deliveries/ack).
      const events = result.events.map((e) => {
        const deliveryId = this.deliveryIds.of(e.event, e.data);
        return deliveryId ? { ...e, deliveryId } : e;
      });
      return { channel: query.channel, ...result, events };
    } catch (err) {
      if (err instanceof InvalidOffsetError) throw new DomainError('invalid_offset', err.message, 400);
      throw err;
    }
  }

  @Get('presence')
  @ApiOperation({
    summary: "Presence of several users of the caller's tenant, with when they were last seen",
    description:
      'Cluster-wide, as `presence:update` reports it (a user is offline once the offline debounce has passed). ' +
      'A user of another tenant, or never connected, is `offline` with `lastSeen: null`.',
  })
  @ApiOkResponse({ type: PresenceResponse })
  async presenceOf(@CurrentUser() user: AuthUser, @Query() query: PresenceQuery): Promise<PresenceResponse> {
    return { presence: await this.presence.states(user.tenantId, query.userIds) };
  }

  @Post('admin/broadcast')
  @HttpCode(202)
  @Roles('SERVICE', 'ADMIN')
  @ApiOperation({ summary: 'Publish an event to a channel of the caller’s tenant, on every pod (server API)' })
  @ApiOkResponse({ type: BroadcastResponse })
  async broadcast(@CurrentUser() user: AuthUser, @Body() body: BroadcastDto): Promise<BroadcastResponse> {
    const offset = await this.realtime.publish(user.tenantId, body.channel, externalEvent(body.event), body.data);
    return { channel: body.channel, event: body.event, offset };
  }

  @Get('admin/realtime')
  @Roles('SERVICE', 'ADMIN')
  @ApiOperation({ summary: 'Connected sockets on this pod and across the cluster' })
  @ApiOkResponse({ type: RealtimeStatus })
  async status(): Promise<RealtimeStatus> {
    return {
      pod: { id: this.presence.podId, sockets: this.realtime.localSockets },
      cluster: await this.presence.clusterSockets(),
    };
  }
}
