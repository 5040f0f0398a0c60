import { ApiPropertyOptional, ApiProperty } from '@nestjs/swagger';
import { IsArray, IsIn, IsISO8601, IsOptional, IsUUID, Matches } from 'class-validator';
import { USER_ID } from './community.dto';
import { BulkEnvelope, BulkItemBase } from '../../sync';

/** One offline check-in (the church app: {serviceId, checkinTime, offlineId}). */
export class CheckinItemDto extends BulkItemBase {
  @ApiProperty({ format: 'uuid' }) @IsUUID() serviceId: string;
  @ApiProperty({ format: 'date-time' }) @IsISO8601({ strict: true }) checkinTime: string;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, description: 'Set when the member left' })
  @IsOptional()
  @IsISO8601({ strict: true })
  checkoutTime?: string | null;
  @ApiPropertyOptional({ description: 'Check in someone else (kiosk run by a leader or admin); a user never seen is enrolled' })
  @IsOptional()
  @Matches(USER_ID, { message: 'userId must be a user id' })
  userId?: string;
}

export class RsvpItemDto extends BulkItemBase {
  @ApiProperty({ format: 'uuid' }) @IsUUID() eventId: string;
  @ApiPropertyOptional({ description: 'Answer for someone else (leaders, admins and the host); a user never seen is enrolled' })
  @IsOptional()
  @Matches(USER_ID, { message: 'userId must be a user id' })
  userId?: string;
  @ApiProperty({ enum: ['going', 'maybe', 'declined'] }) @IsIn(['going', 'maybe', 'declined']) status: 'going' | 'maybe' | 'declined';
}

/** Items are validated one by one (an invalid item is `rejected`, the others still apply). */
export class CheckinsBulkDto extends BulkEnvelope {
  @ApiPropertyOptional({ type: [CheckinItemDto], description: "The church app's name; `items` is accepted too", maxItems: 500 })
  @IsOptional()
  @IsArray()
  checkins?: unknown[];
  @ApiPropertyOptional({ type: [CheckinItemDto], maxItems: 500 }) @IsOptional() @IsArray() items?: unknown[];
}

export class RsvpsBulkDto extends BulkEnvelope {
  @ApiPropertyOptional({ type: [RsvpItemDto], description: '`items` is accepted too', maxItems: 500 })
  @IsOptional()
  @IsArray()
  rsvps?: unknown[];
  @ApiPropertyOptional({ type: [RsvpItemDto], maxItems: 500 }) @IsOptional() @IsArray() items?: unknown[];
}
