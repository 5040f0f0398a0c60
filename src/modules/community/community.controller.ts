import { Body, Controller, Delete, Get, Header, HttpCode, Param, Patch, Post, Put, Query, Res, UseInterceptors } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentUser, Roles } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { CommunityService } from './community.service';
import type { Doc } from './community.repository';
import {
  BulkMembersDto,
  BulkMembersResponse,
  CheckinDto,
  CheckinResponse,
  CreateAnnouncementDto,
  CreateEventDto,
  CreateServiceDto,
  IdParams,
  LiveCountsQuery,
  LiveCountsResponse,
  PutMemberDto,
  ServiceCounts,
  ServicesQuery,
  UpdateEventDto,
  UpdateServiceDto,
  UserIdParams,
} from './dto/community.dto';
import { MemberEnrollmentInterceptor } from './member-enrollment.interceptor';

/**
 * The community's server API (the host backend with a SERVICE token, and admins) and the member
 * routes that are not sync: online check-in, counts, the polling fallback for live counts.
 */
@ApiTags('community')
@ApiBearerAuth()
@ApiBadRequestResponse({ type: ErrorResponse, description: '`validation_failed`' })
@ApiForbiddenResponse({ type: ErrorResponse, description: '`forbidden` (role)' })
@UseInterceptors(MemberEnrollmentInterceptor)
@Controller()
export class CommunityController {
  constructor(private readonly community: CommunityService) {}

  @Post('events')
  @Roles('SERVICE', 'ADMIN', 'LEADER')
  @ApiOperation({ summary: 'Create an event (public, or private to its invitees)' })
  @ApiCreatedResponse({ description: 'The event as sync serves it, plus `invitees`' })
  createEvent(@CurrentUser() user: AuthUser, @Body() dto: CreateEventDto): Promise<Doc> {
    return this.community.createEvent(user, dto);
  }

  @Patch('events/:id')
  @Roles('SERVICE', 'ADMIN', 'LEADER')
  @ApiOperation({ summary: 'Change an event; `invitees` replaces the invitation list (revoked invitees see it deleted)' })
  @ApiOkResponse({ description: 'The event, plus `invitees`' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`event_not_found`' })
  updateEvent(@CurrentUser() user: AuthUser, @Param() p: IdParams, @Body() dto: UpdateEventDto): Promise<Doc> {
    return this.community.updateEvent(user, p.id, dto);
  }

  @Delete('events/:id')
  @HttpCode(204)
  @Roles('SERVICE', 'ADMIN', 'LEADER')
  @ApiOperation({ summary: 'Delete an event with its RSVPs (soft: sync reports them in `deleted`)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`event_not_found`' })
  deleteEvent(@CurrentUser() user: AuthUser, @Param() p: IdParams): Promise<void> {
    return this.community.deleteEvent(user, p.id);
  }

  @Get('services')
  @Header('Content-Type', 'application/json; charset=utf-8')
  @ApiOperation({ summary: 'Services of the tenant in a time window (default: from 12 hours ago to 30 days ahead)' })
  @ApiOkResponse({ description: '`{services: [{id, name, location, startsAt, endsAt, version, updatedAt}]}`' })
  listServices(@CurrentUser() user: AuthUser, @Query() q: ServicesQuery): Promise<string> {
    return this.community.listServices(user, q.from, q.to);
  }

  @Post('services')
  @Roles('SERVICE', 'ADMIN', 'LEADER')
  @ApiOperation({ summary: 'Schedule a service (a gathering members check in to)' })
  @ApiCreatedResponse({ description: 'The service' })
  createService(@CurrentUser() user: AuthUser, @Body() dto: CreateServiceDto): Promise<Doc> {
    return this.community.createService(user, dto);
  }

  @Patch('services/:id')
  @Roles('SERVICE', 'ADMIN', 'LEADER')
  @ApiOperation({ summary: 'Change a service' })
  @ApiOkResponse({ description: 'The service' })
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`service_not_found`' })
  updateService(@CurrentUser() user: AuthUser, @Param() p: IdParams, @Body() dto: UpdateServiceDto): Promise<Doc> {
    return this.community.updateService(user, p.id, dto);
  }

  @Delete('services/:id')
  @HttpCode(204)
  @Roles('SERVICE', 'ADMIN', 'LEADER')
  @ApiOperation({ summary: 'Delete a service with its check-ins (soft: sync reports them in `deleted`)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`service_not_found`' })
  deleteService(@CurrentUser() user: AuthUser, @Param() p: IdParams): Promise<void> {
    return this.community.deleteService(user, p.id);
  }

  @Post('services/:id/checkins')
  @ApiOperation({
    summary: 'Check in online (yourself; leaders and admins may pass userId)',
    description: '201 with the new check-in, or 200 with the existing one. Publishes `service:count_update` on `service:counts`.',
  })
  @ApiCreatedResponse({ type: CheckinResponse })
  @ApiNotFoundResponse({
    type: ErrorResponse,
    description: '`service_not_found`; `member_not_found` for a member removed before (one never seen is enrolled)',
  })
  async checkIn(
    @CurrentUser() user: AuthUser,
    @Param() p: IdParams,
    @Body() dto: CheckinDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<CheckinResponse> {
    const result = await this.community.checkIn(user, p.id, dto);
    res.status(result.created ? 201 : 200);
    return result;
  }

  @Get('services/:id/counts')
  @ApiOperation({ summary: 'Check-in counts of a service (the `service:count_update` payload)' })
  @ApiOkResponse({ type: ServiceCounts })
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`service_not_found`' })
  counts(@CurrentUser() user: AuthUser, @Param() p: IdParams): Promise<ServiceCounts> {
    return this.community.counts(user, p.id);
  }

  @Get('live/service-counts')
  @ApiOperation({
    summary: 'Polling fallback for live counts: the services under way that the caller sees',
    description:
      "Tenant-wide services and those of the caller's site (members); every site's, or `siteId`'s and tenant-wide ones, " +
      'for leaders, admins and the host.',
  })
  @ApiOkResponse({ type: LiveCountsResponse })
  liveCounts(@CurrentUser() user: AuthUser, @Query() q: LiveCountsQuery): Promise<LiveCountsResponse> {
    return this.community.liveCounts(user, q.siteId);
  }

  @Put('members/:userId')
  @Roles('SERVICE', 'ADMIN')
  @ApiOperation({
    summary: 'Create or update a member (roles and status decide what they see in sync)',
    description: 'A member is also created, from the token, on their first request. PUT restores a deleted member.',
  })
  @ApiOkResponse({ description: 'The member as sync serves it' })
  async putMember(@CurrentUser() user: AuthUser, @Param() p: UserIdParams, @Body() dto: PutMemberDto): Promise<Doc> {
    return (await this.community.putMember(user, p.userId, dto)).doc;
  }

  @Post('members/bulk')
  @HttpCode(200)
  @Roles('SERVICE', 'ADMIN')
  @ApiOperation({
    summary: 'Create or update up to 500 members at once (the host syncing its member list)',
    description:
      'Each member as PUT /members/:userId would leave it (absent fields unchanged), all in one transaction; ' +
      'idempotent: sending the same list again answers `unchanged` and writes nothing. Each userId at most once.',
  })
  @ApiOkResponse({ type: BulkMembersResponse })
  putMembers(@CurrentUser() user: AuthUser, @Body() dto: BulkMembersDto): Promise<BulkMembersResponse> {
    return this.community.putMembers(user, dto.members);
  }

  @Delete('members/:userId')
  @HttpCode(204)
  @Roles('SERVICE', 'ADMIN')
  @ApiOperation({ summary: 'Remove a member (soft: sync reports it in `deleted`)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`member_not_found`' })
  deleteMember(@CurrentUser() user: AuthUser, @Param() p: UserIdParams): Promise<void> {
    return this.community.deleteMember(user, p.userId);
  }

  @Post('announcements')
  @Roles('ADMIN', 'LEADER')
  @ApiOperation({ summary: 'Post an announcement: stored and published as `announcement:new` on `announcements`' })
  @ApiCreatedResponse({ description: '{id, title, content, priority, createdAt}' })
  announce(@CurrentUser() user: AuthUser, @Body() dto: CreateAnnouncementDto): Promise<Doc> {
    return this.community.announce(user, dto);
  }
}
