import { Body, Controller, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { CurrentUser } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { DeliveriesResponse } from '../delivery';
import { InboxPage, InboxQueryDto, ReadAllResponse, ReadResponse } from './dto/inbox.dto';
import { PreferencesDto, PreferencesResponse } from './dto/preferences.dto';
import { NotificationsService } from './notifications.service';

@ApiTags('notifications')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponse, description: 'Missing, invalid or expired access token' })
@Controller('notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get()
  @ApiOperation({ summary: "The caller's inbox, newest first, cursor-paginated, with the unread count" })
  @ApiOkResponse({ type: InboxPage })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'code `validation_failed`' })
  inbox(@CurrentUser() user: AuthUser, @Query() query: InboxQueryDto): Promise<InboxPage> {
    return this.notifications.inbox(user, query);
  }

  @Get('preferences')
  @ApiOperation({ summary: "The caller's push preferences (defaults if never set)" })
  @ApiOkResponse({ type: PreferencesResponse })
  preferences(@CurrentUser() user: AuthUser): Promise<PreferencesResponse> {
    return this.notifications.preferences(user);
  }

  @Put('preferences')
  @ApiOperation({
    summary: "Replace the caller's push preferences",
    description:
      'Per category switches, a global switch and quiet hours in an IANA time zone. Muted or quiet notifications ' +
      'still reach the inbox; high priority system notifications ignore quiet hours.',
  })
  @ApiOkResponse({ type: PreferencesResponse })
  @ApiBadRequestResponse({ type: ErrorResponse, description: 'code `validation_failed`' })
  savePreferences(@CurrentUser() user: AuthUser, @Body() dto: PreferencesDto): Promise<PreferencesResponse> {
    return this.notifications.savePreferences(user, dto);
  }

  @Post('read-all')
  @HttpCode(200)
  @ApiOperation({ summary: "Mark every notification of the caller's inbox read" })
  @ApiOkResponse({ type: ReadAllResponse })
  async readAll(@CurrentUser() user: AuthUser): Promise<ReadAllResponse> {
    return { updated: await this.notifications.markAllRead(user) };
  }

  @Get(':id/deliveries')
  @ApiOperation({
    summary: 'What became of a notification per recipient and device',
    description:
      "The caller's own part (a recipient), or every recipient's for SERVICE/ADMIN: per device, acknowledged by a " +
      "socket (when, over which transport), pushed (the provider's answer, when), or neither. Kept " +
      'DELIVERY_RECEIPTS_RETENTION_HOURS. See README "Delivery".',
  })
  @ApiOkResponse({ type: DeliveriesResponse })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'code `notification_not_found`' })
  async deliveries(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<DeliveriesResponse> {
    return { recipients: await this.notifications.deliveries(user, id) } as DeliveriesResponse;
  }

  @Post(':id/read')
  @HttpCode(200)
  @ApiOperation({ summary: 'Mark one notification read' })
  @ApiOkResponse({ type: ReadResponse })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'code `notification_not_found`' })
  read(@CurrentUser() user: AuthUser, @Param('id') id: string): Promise<ReadResponse> {
    return this.notifications.markRead(user, id);
  }
}
