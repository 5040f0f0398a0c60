import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiGoneResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { CurrentUser } from '../../core/auth/auth.decorators';
import type { AuthUser } from '../../core/auth/auth-user';
import { ErrorResponse } from '../../core/http/error-response.dto';
import { ChangesQueryDto, PullQueryDto, SyncPageResponse } from './dto/sync.dto';
import { SyncThrottle } from './sync-throttle.guard';
import { SyncService } from './sync.service';

const JSON_TYPE = 'application/json; charset=utf-8';

@ApiTags('sync')
@ApiBearerAuth()
@ApiBadRequestResponse({ type: ErrorResponse, description: '`validation_failed`, `invalid_cursor`' })
@ApiGoneResponse({ type: ErrorResponse, description: '`sync_reset_required`: the cursor is older than the tombstone retention' })
@ApiTooManyRequestsResponse({ type: ErrorResponse, description: '`rate_limited` (with Retry-After)' })
@SyncThrottle('reads')
@Controller('sync')
export class SyncController {
  constructor(private readonly sync: SyncService) {}

  // Declared before ':collection' so that it wins the route match.
  @Get('changes')
  @Header('Content-Type', JSON_TYPE)
  @ApiOperation({
    summary: 'Several collections in one pull, from one consistent snapshot',
    description: 'Response: `{events: [...], members: [...], deleted: {events: [ids], ...}, nextCursor, hasMore, timestamp}`.',
  })
  @ApiOkResponse({ description: 'A page of every requested collection' })
  changes(@CurrentUser() user: AuthUser, @Query() query: ChangesQueryDto): Promise<string> {
    return this.sync.changes(user, query.collections?.split(','), query.cursor, query.limit);
  }

  @Get(':collection')
  @Header('Content-Type', JSON_TYPE)
  @ApiOperation({
    summary: 'Delta sync of one collection (events, members, rsvps, checkins)',
    description:
      'Without cursor or updatedAfter: everything the caller may see, page by page. Follow `nextCursor` while `hasMore`; ' +
      'keep the last `nextCursor` for the next sync. `deleted` lists ids deleted or no longer visible to the caller.',
  })
  @ApiParam({ name: 'collection', enum: ['events', 'members', 'rsvps', 'checkins'] })
  @ApiOkResponse({ type: SyncPageResponse })
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`unknown_collection`' })
  pull(@CurrentUser() user: AuthUser, @Param('collection') collection: string, @Query() query: PullQueryDto): Promise<string> {
    return this.sync.pull(user, collection, query);
  }
}
