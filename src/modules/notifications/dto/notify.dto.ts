import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  Equals,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { ROLES } from '../../../core/auth/auth-user';
import type { Role } from '../../../core/auth/auth-user';
import { MAX_BADGE, PUSH_PRIORITIES, PUSH_SOUND_PATTERN } from '../../devices';
import type { PushPriority } from '../../devices';
import { CATEGORIES, MAX_USER_IDS } from '../notifications.constants';
import type { Category } from '../notifications.constants';
import { IsStringMap } from './string-map.validator';

export const MAX_TTL_SECONDS = 28 * 24 * 3600; // FCM's maximum

/** POST /admin/notify: exactly one of userIds, roles, topic or tenant. */
export class AdminNotifyDto {
  @ApiPropertyOptional({ type: [String], description: `Users of the caller's tenant (at most ${MAX_USER_IDS}); each gets an inbox entry` })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_USER_IDS)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(128, { each: true })
  userIds?: string[];

  @ApiPropertyOptional({ enum: ROLES, isArray: true, description: "Every device of the tenant's users with one of these roles" })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @IsIn(ROLES, { each: true })
  roles?: Role[];

  @ApiPropertyOptional({
    description:
      "A topic of the caller's tenant, e.g. `role-member` (devices subscribe to `role-<role>` automatically); one FCM topic send",
    example: 'role-member',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.~%-]{1,200}$/, { message: 'topic must be 1 to 200 of the characters A-Z a-z 0-9 - _ . ~ %' })
  topic?: string;

  @ApiPropertyOptional({ enum: [true], description: 'Every device of the tenant' })
  @IsOptional()
  @Equals(true, { message: 'tenant must be true when given' })
  tenant?: true;

  @ApiPropertyOptional({
    description: 'With tenant: true, one send to the tenant topic instead of a per-device fan-out (preferences cannot apply)',
  })
  @IsOptional()
  @IsBoolean()
  viaTopic?: boolean;

  @ApiPropertyOptional({ maxLength: 200, example: 'Service starts at 10:00' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  title?: string;

  @ApiPropertyOptional({ maxLength: 2000, example: 'Doors open at 9:30.' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  body?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'String values only; no title and no body makes a silent data message',
    example: { screen: 'announcements', announcementId: '42' },
  })
  @IsOptional()
  @IsStringMap()
  data?: Record<string, string>;

  @ApiProperty({ enum: CATEGORIES, example: 'announcement' })
  @IsIn(CATEGORIES)
  category: Category;

  @ApiPropertyOptional({ enum: PUSH_PRIORITIES, default: 'normal' })
  @IsOptional()
  @IsIn(PUSH_PRIORITIES)
  priority?: PushPriority;

  @ApiPropertyOptional({ maxLength: 64, description: 'Newer pushes with the same key replace older ones on the device' })
  @IsOptional()
  @IsString()
  @Matches(/^[\x21-\x7e]{1,64}$/, { message: 'collapseKey must be 1 to 64 printable ASCII characters' })
  collapseKey?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_TTL_SECONDS, description: '0: deliver now or never' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_TTL_SECONDS)
  ttlSeconds?: number;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: MAX_BADGE,
    description: "The app icon's badge on iOS (0 clears it). Default: each recipient's unread count, on alert pushes",
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_BADGE)
  badge?: number;

  @ApiPropertyOptional({
    example: 'default',
    description:
      '`default`, `none` (a quiet alert) or a sound file of the app (`chime.caf`). Default: `default` on alert pushes but low priority ones',
  })
  @IsOptional()
  @IsString()
  @Matches(PUSH_SOUND_PATTERN, {
    message: 'sound must be "default", "none" or a sound file name of 1 to 64 of the characters A-Z a-z 0-9 _ . -',
  })
  sound?: string;

  @ApiPropertyOptional({
    description:
      'With userIds: skip the recipients who are online now (a live socket on any pod): no inbox entry, no push. ' +
      'The answer lists `notified` and `skipped`; `notificationId` is null when every recipient was skipped.',
  })
  @IsOptional()
  @IsBoolean()
  onlyIfOffline?: boolean;

  @ApiPropertyOptional({ description: 'The same key within the tenant returns the first notification and sends nothing again' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9._:-]{1,200}$/, { message: 'idempotencyKey must be 1 to 200 of the characters A-Z a-z 0-9 . _ : -' })
  idempotencyKey?: string;
}

export class NotifyResponse {
  @ApiProperty({ format: 'uuid', nullable: true, description: 'null only with onlyIfOffline when every recipient was online' })
  notificationId: string | null;
  @ApiProperty({ description: 'True when the idempotency key had been used: nothing was sent again' }) duplicate: boolean;
  @ApiProperty({ description: 'Inbox entries written (user recipients only)' }) inboxCount: number;
}

export class OfflineNotifyResponse extends NotifyResponse {
  @ApiProperty({ type: [String], description: 'onlyIfOffline: recipients notified (offline at the time of the call)' }) notified: string[];
  @ApiProperty({ type: [String], description: 'onlyIfOffline: recipients skipped because they were online' }) skipped: string[];
}
