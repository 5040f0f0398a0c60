import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsObject, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { EVENT_NAME_PATTERN } from '../../realtime';

export const CONTROL_ACTIONS = ['broadcast', 'notify'] as const;

/** The venues app's `POST /api/websocket` body. */
export class WebsocketControlDto {
  @ApiProperty({ enum: CONTROL_ACTIONS })
  @IsIn(CONTROL_ACTIONS)
  action: (typeof CONTROL_ACTIONS)[number];

  @ApiPropertyOptional({
    description: 'broadcast: the channel; `venue_updates` style names map to `venue:updates` when `venue:` is a known prefix',
    example: 'venue:42',
  })
  @ValidateIf((o: WebsocketControlDto) => o.action === 'broadcast')
  @IsString()
  @Matches(/^[A-Za-z0-9_.:@-]{1,160}$/, { message: 'channel must be 1 to 160 of the characters A-Z a-z 0-9 _ . : @ -' })
  channel?: string;

  @ApiPropertyOptional({ description: 'broadcast: the event name; default `broadcast`', example: 'venue:update' })
  @IsOptional()
  @IsString()
  @Matches(EVENT_NAME_PATTERN, { message: 'event must be lowercase words separated by colons, e.g. "venue:update"' })
  event?: string;

  @ApiPropertyOptional({ description: 'notify: the recipient', example: 'user-123' })
  @ValidateIf((o: WebsocketControlDto) => o.action === 'notify')
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  userId?: string;

  @ApiPropertyOptional({ description: 'notify: skip it (no inbox entry, no push) if the user is online now (ignored by broadcast)' })
  @IsOptional()
  @IsBoolean()
  onlyIfOffline?: boolean;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'broadcast: the payload. notify: `{title, message | body, type?, data?}` as the venues app sends it',
  })
  @IsObject()
  data: Record<string, unknown>;
}

export class WebsocketStatusResponse {
  @ApiProperty({ example: 'running' }) status: 'running';
  @ApiProperty({ description: 'Sockets connected to this pod (Socket.IO and plain WebSocket)' }) connections: number;
  @ApiProperty({ example: { id: 'b0c1...', sockets: 1200 } }) pod: { id: string; sockets: number };
  @ApiProperty({ example: { sockets: 2400, pods: 2 } }) cluster: { sockets: number; pods: number };
}
