import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { EVENT_NAME_PATTERN } from '../realtime.events';
import { USER_ID_CHARACTERS, USER_ID_PATTERN } from '../../../core/auth/auth-user';

const CHANNEL = /^[a-z][a-z0-9_-]{0,31}(?::[A-Za-z0-9_.@|-]{1,128})?$/;

export class EventsQuery {
  @ApiProperty({ example: 'announcements', description: 'Channel name, as used in `subscribe`' })
  @IsString()
  @Matches(CHANNEL, { message: 'channel must look like "announcements" or "conversation:<id>"' })
  channel: string;

  @ApiPropertyOptional({
    description:
      'Offset from a previous event or response (exclusive), an ISO time, or epoch milliseconds (events published after it). ' +
      'Absent: the newest events.',
    example: 'a1b2c3d4.1795377586183-0',
  })
  @IsOptional()
  @IsString()
  @MaxLength(80)
  since?: string;

  @ApiPropertyOptional({
    description:
      'Subscription token for a host-owned channel (`activity:`, `booking:`, `venue:`...); the `X-Channel-Token` header is preferred',
  })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  token?: string;

  @ApiPropertyOptional({ default: 100, minimum: 1, maximum: 1000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

export class LoggedEventDto {
  @ApiProperty({ example: 'announcement:new' }) event: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) data: unknown;
  @ApiProperty({ example: 'a1b2c3d4.1795377586183-0' }) offset: string;
  @ApiProperty({ format: 'date-time' }) timestamp: string;
  @ApiPropertyOptional({ description: 'On events their recipients acknowledge: pass to POST /deliveries/ack', example: 'm:7d1f0c2e-...' })
  deliveryId?: string;
}

export class EventsResponse {
  @ApiProperty() channel: string;
  @ApiProperty({ type: [LoggedEventDto] }) events: LoggedEventDto[];
  @ApiProperty({
    description:
      'False when the log no longer reaches back to `since`: `events` are then what the log still holds (oldest first), ' +
      'with a possible gap before them; reload the data over REST',
  })
  recovered: boolean;
  @ApiProperty({ description: 'Pass as `since` next time' }) offset: string;
  @ApiProperty({ description: 'More events follow `offset`; ask again at once' }) hasMore: boolean;
}

export class BroadcastDto {
  @ApiProperty({ example: 'venue:42' })
  @IsString()
  @Matches(CHANNEL, { message: 'channel must look like "announcements" or "venue:<id>"' })
  channel: string;

  @ApiProperty({ example: 'venue:update' })
  @IsString()
  @Matches(EVENT_NAME_PATTERN, { message: 'event must be lowercase words separated by colons, e.g. "venue:update"' })
  event: string;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { crowd: 'busy' } })
  @IsObject()
  data: Record<string, unknown>;
}

export class BroadcastResponse {
  @ApiProperty() channel: string;
  @ApiProperty() event: string;
  @ApiProperty() offset: string;
}

export class RealtimeStatus {
  @ApiProperty({ example: { id: 'b0c1...', sockets: 1200 } }) pod: { id: string; sockets: number };
  @ApiProperty({ example: { sockets: 2400, pods: 2 } }) cluster: { sockets: number; pods: number };
}

/** Users one GET /presence may ask about. */
export const MAX_PRESENCE_QUERY = 200;

export class PresenceQuery {
  @ApiProperty({
    description: `Comma-separated user ids of the caller's tenant (1 to ${MAX_PRESENCE_QUERY}; repeats count once)`,
    example: 'user-1,user-2',
    type: String,
  })
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? [...new Set(value.split(',').map((v) => v.trim()))].filter((v) => v !== '') : value,
  )
  @IsArray({ message: 'userIds must be a comma-separated list of user ids' })
  @ArrayMinSize(1, { message: 'userIds must name at least one user' })
  @ArrayMaxSize(MAX_PRESENCE_QUERY, { message: `userIds may name at most ${MAX_PRESENCE_QUERY} users` })
  @Matches(USER_ID_PATTERN, { each: true, message: `each of userIds must be a user id (1-128 of ${USER_ID_CHARACTERS})` })
  userIds: string[];
}

export class PresenceStateDto {
  @ApiProperty({ example: 'user-1' }) userId: string;
  @ApiProperty({ enum: ['online', 'offline'] }) status: 'online' | 'offline';
  @ApiProperty({ nullable: true, format: 'date-time', description: 'When their last socket left; null when online or never seen' })
  lastSeen: string | null;
}

export class PresenceResponse {
  @ApiProperty({ type: [PresenceStateDto], description: 'One entry per distinct user asked about, in the order asked' })
  presence: PresenceStateDto[];
}
