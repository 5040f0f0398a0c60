import { Body, Controller, HttpCode, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { CurrentUser } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { invalidField } from '../../core/http/domain-error';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { BulkItemResult, BulkResponse, BulkSizeGuard, SyncMutationService, SyncThrottle } from '../sync';
import { CheckinsBulkDto, RsvpsBulkDto } from './dto/community-bulk.dto';
import { MemberEnrollmentInterceptor } from './member-enrollment.interceptor';

/** Exactly one of the two names carries the items. */
function itemsOf(named: unknown[] | undefined, items: unknown[] | undefined, name: string): unknown[] {
  if ((named === undefined) === (items === undefined)) throw invalidField(name, `send the items as either "${name}" or "items"`);
  return (named ?? items)!;
}

/** The community's offline mutation routes; sync applies them (ledger, savepoints, conflicts). */
@ApiTags('sync')
@ApiBearerAuth()
@ApiBadRequestResponse({ type: ErrorResponse, description: '`validation_failed` (the envelope; invalid items are rejected one by one)' })
@ApiPayloadTooLargeResponse({ type: ErrorResponse, description: '`payload_too_large`: more than 500 items' })
@ApiTooManyRequestsResponse({ type: ErrorResponse, description: '`rate_limited` (with Retry-After)' })
// Decorators apply bottom-up: the sync limit is counted before the size check, so an oversized batch counts too.
@UseGuards(BulkSizeGuard)
@SyncThrottle('bulk')
@UseInterceptors(MemberEnrollmentInterceptor)
@Controller('sync')
export class CommunitySyncController {
  constructor(private readonly mutations: SyncMutationService) {}

  @Post('checkins/bulk')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Offline check-ins, at most 500, each applied (or not) on its own',
    description:
      'Your own check-ins (leaders and admins may set `userId`, e.g. a kiosk). An item updates the live check-in of ' +
      'the same member and service when there is one (e.g. to set `checkoutTime`).',
  })
  @ApiOkResponse({ type: BulkResponse })
  checkins(@CurrentUser() user: AuthUser, @Body() body: CheckinsBulkDto): Promise<{ results: BulkItemResult[] }> {
    return this.mutations.apply(
      'checkins',
      user,
      body.conflictResolution ?? 'last-write-wins',
      itemsOf(body.checkins, body.items, 'checkins'),
    );
  }

  @Post('events/rsvp/bulk')
  @HttpCode(200)
  @ApiOperation({ summary: 'Offline RSVPs (going, maybe, declined), at most 500, each applied (or not) on its own' })
  @ApiOkResponse({ type: BulkResponse })
  rsvps(@CurrentUser() user: AuthUser, @Body() body: RsvpsBulkDto): Promise<{ results: BulkItemResult[] }> {
    return this.mutations.apply('rsvps', user, body.conflictResolution ?? 'last-write-wins', itemsOf(body.rsvps, body.items, 'rsvps'));
  }
}
