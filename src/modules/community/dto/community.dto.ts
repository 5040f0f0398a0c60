import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { Type } from 'class-transformer';
import { USER_ID_PATTERN } from '../../../core/auth/auth-user';

/** The shape of user ids (the token's `sub`). */
export const USER_ID = USER_ID_PATTERN;
export const MEMBER_ROLES = ['MEMBER', 'LEADER', 'ADMIN'] as const;
/** Site ids (a church of the tenant): they name the channel `site:<siteId>`, so no colon. */
export const SITE_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
const SITE_MESSAGE = 'siteId must be 1-64 letters, digits or _ . @ -, or null';
/** Most members one bulk upsert takes. */
export const MAX_BULK_MEMBERS = 500;
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
/** The church app's createAnnouncement pushes to these roles. */
export const ANNOUNCEMENT_ROLES = ['MEMBER', 'LEADER', 'ADMIN'] as const;
const present = (key: string) => (o: Record<string, unknown>) => o[key] !== undefined;

export class IdParams {
  @ApiProperty({ format: 'uuid' }) @IsUUID() id: string;
}

export class UserIdParams {
  @ApiProperty({ example: 'user-42' }) @Matches(USER_ID, { message: 'userId must be 1-128 letters, digits or _ . : @ | -' }) userId: string;
}

export class CreateEventDto {
  @ApiProperty({ example: 'Youth night' }) @IsString() @MinLength(1) @MaxLength(200) title: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
  @ApiPropertyOptional({ example: 'Main hall' }) @IsOptional() @IsString() @MaxLength(200) location?: string | null;
  @ApiProperty({ format: 'date-time' }) @IsISO8601({ strict: true }) startsAt: string;
  @ApiPropertyOptional({ format: 'date-time' }) @IsOptional() @IsISO8601({ strict: true }) endsAt?: string | null;
  @ApiPropertyOptional({ minimum: 1, description: 'Seats; RSVPs "going" beyond it are rejected (event_full)' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  capacity?: number | null;
  @ApiPropertyOptional({ enum: ['public', 'private'], default: 'public', description: 'private: invitees, leaders and admins only' })
  @IsOptional()
  @IsIn(['public', 'private'])
  visibility?: 'public' | 'private';
  @ApiPropertyOptional({ type: [String], description: 'User ids invited (the whole list; replaces the previous one on PATCH)' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(5000)
  @Matches(USER_ID, { each: true, message: 'each invitee must be a user id' })
  invitees?: string[];
}

/** PATCH: every field optional; nullable ones may be cleared with null. */
export class UpdateEventDto {
  @ApiPropertyOptional() @ValidateIf(present('title')) @IsString() @MinLength(1) @MaxLength(200) title?: string;
  @ApiPropertyOptional({ nullable: true }) @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
  @ApiPropertyOptional({ nullable: true }) @IsOptional() @IsString() @MaxLength(200) location?: string | null;
  @ApiPropertyOptional({ format: 'date-time' }) @ValidateIf(present('startsAt')) @IsISO8601({ strict: true }) startsAt?: string;
  @ApiPropertyOptional({ format: 'date-time', nullable: true }) @IsOptional() @IsISO8601({ strict: true }) endsAt?: string | null;
  @ApiPropertyOptional({ nullable: true }) @IsOptional() @IsInt() @Min(1) @Max(1_000_000) capacity?: number | null;
  @ApiPropertyOptional({ enum: ['public', 'private'] }) @ValidateIf(present('visibility')) @IsIn(['public', 'private']) visibility?:
    'public' | 'private';
  @ApiPropertyOptional({ type: [String] })
  @ValidateIf(present('invitees'))
  @IsArray()
  @ArrayMaxSize(5000)
  @Matches(USER_ID, { each: true, message: 'each invitee must be a user id' })
  invitees?: string[];
}

export class CreateServiceDto {
  @ApiProperty({ example: 'Sunday 9am' }) @IsString() @MinLength(1) @MaxLength(200) name: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) location?: string | null;
  @ApiProperty({ format: 'date-time' }) @IsISO8601({ strict: true }) startsAt: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'Default: two hours after startsAt' })
  @IsOptional()
  @IsISO8601({ strict: true })
  endsAt?: string;
  @ApiPropertyOptional({
    nullable: true,
    example: 'church-north',
    description: 'The site (e.g. a church of the tenant); null or absent: tenant-wide',
  })
  @IsOptional()
  @Matches(SITE_ID, { message: SITE_MESSAGE })
  siteId?: string | null;
}

export class UpdateServiceDto {
  @ApiPropertyOptional() @ValidateIf(present('name')) @IsString() @MinLength(1) @MaxLength(200) name?: string;
  @ApiPropertyOptional({ nullable: true }) @IsOptional() @IsString() @MaxLength(200) location?: string | null;
  @ApiPropertyOptional({ format: 'date-time' }) @ValidateIf(present('startsAt')) @IsISO8601({ strict: true }) startsAt?: string;
  @ApiPropertyOptional({ format: 'date-time' }) @ValidateIf(present('endsAt')) @IsISO8601({ strict: true }) endsAt?: string;
  @ApiPropertyOptional({
    nullable: true,
    example: 'church-north',
    description: 'The site (e.g. a church of the tenant); null: tenant-wide; absent: unchanged',
  })
  @IsOptional()
  @Matches(SITE_ID, { message: SITE_MESSAGE })
  siteId?: string | null;
}

export class LiveCountsQuery {
  @ApiPropertyOptional({ description: 'Leaders, admins and the host: only this site’s services (and tenant-wide ones)' })
  @IsOptional()
  @Matches(SITE_ID, { message: 'siteId must be 1-64 letters, digits or _ . @ -' })
  siteId?: string;
}

export class ServicesQuery {
  @ApiPropertyOptional({ format: 'date-time', description: 'Services ending after this (default: 12 hours ago)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'Services starting before this (default: in 30 days)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;
}

export class PutMemberDto {
  @ApiPropertyOptional({ example: 'Ada Lovelace' }) @IsOptional() @IsString() @MinLength(1) @MaxLength(200) displayName?: string;
  @ApiPropertyOptional({
    enum: MEMBER_ROLES,
    isArray: true,
    description: 'Decide what the member sees in sync (leaders and admins: everything)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(3)
  @IsIn(MEMBER_ROLES, { each: true })
  roles?: string[];
  @ApiPropertyOptional({ enum: ['active', 'inactive'] }) @IsOptional() @IsIn(['active', 'inactive']) status?: 'active' | 'inactive';
  @ApiPropertyOptional({
    nullable: true,
    example: 'church-north',
    description: 'The site (e.g. a church of the tenant); null: tenant-wide; absent: unchanged (tenant-wide for a new member)',
  })
  @IsOptional()
  @Matches(SITE_ID, { message: SITE_MESSAGE })
  siteId?: string | null;
}

/** One member of a bulk upsert: PutMemberDto plus whose record it is. */
export class BulkMemberDto extends PutMemberDto {
  @ApiProperty({ example: 'user-42' }) @Matches(USER_ID, { message: 'userId must be 1-128 letters, digits or _ . : @ | -' }) userId: string;
}

export class BulkMembersDto {
  @ApiProperty({ type: [BulkMemberDto], maxItems: MAX_BULK_MEMBERS, description: 'Each userId at most once' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BULK_MEMBERS)
  @ValidateNested({ each: true })
  @Type(() => BulkMemberDto)
  members: BulkMemberDto[];
}

export class BulkMemberResult {
  @ApiProperty() userId: string;
  @ApiProperty({ enum: ['created', 'updated', 'unchanged'] }) status: 'created' | 'updated' | 'unchanged';
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'The member as sync serves it' }) member: Record<string, unknown>;
}

export class BulkMembersResponse {
  @ApiProperty({ type: [BulkMemberResult], description: 'One per member, in request order' }) results: BulkMemberResult[];
}

export class CreateAnnouncementDto {
  @ApiProperty({ example: 'Service moved' }) @IsString() @MinLength(1) @MaxLength(200) title: string;
  @ApiProperty({ example: 'Sunday service starts at 10am this week.' }) @IsString() @MinLength(1) @MaxLength(10_000) content: string;
  @ApiPropertyOptional({ enum: PRIORITIES, default: 'normal' }) @IsOptional() @IsIn(PRIORITIES) priority?: (typeof PRIORITIES)[number];
  @ApiPropertyOptional({
    enum: ANNOUNCEMENT_ROLES,
    isArray: true,
    default: ANNOUNCEMENT_ROLES,
    description: 'Whose devices get a push (everyone subscribed to the announcements channel sees it live)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @IsIn(ANNOUNCEMENT_ROLES, { each: true })
  roles?: (typeof ANNOUNCEMENT_ROLES)[number][];
  @ApiPropertyOptional({
    nullable: true,
    example: 'church-north',
    description: 'Only for this site: published on `site:<siteId>` and pushed to its members; absent or null: tenant-wide',
  })
  @IsOptional()
  @Matches(SITE_ID, { message: SITE_MESSAGE })
  siteId?: string | null;
}

export class CheckinDto {
  @ApiPropertyOptional({ description: 'Check in someone else (leaders, admins and server calls only)' })
  @IsOptional()
  @Matches(USER_ID, { message: 'userId must be a user id' })
  userId?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'Default: now (future times count as now)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  checkinTime?: string;
  @ApiPropertyOptional({ description: 'Client id of this check-in, kept on the row' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  offlineId?: string;
}

export class ServiceCounts {
  @ApiProperty({ format: 'uuid' }) serviceId: string;
  @ApiProperty({ description: 'Check-ins recorded' }) totalCheckins: number;
  @ApiProperty({ description: 'Checked in and not checked out' }) currentAttendance: number;
  @ApiProperty({ format: 'date-time' }) timestamp: string;
}

export class LiveServiceCounts extends ServiceCounts {
  @ApiProperty() name: string;
  @ApiPropertyOptional({ description: 'The site of a site’s service; absent for tenant-wide ones' }) siteId?: string;
  @ApiProperty({ format: 'date-time' }) startsAt: string;
  @ApiProperty({ format: 'date-time' }) endsAt: string;
}

export class LiveCountsResponse {
  @ApiProperty({ type: [LiveServiceCounts], description: 'Services under way (from an hour before they start until they end)' })
  services: LiveServiceCounts[];
  @ApiProperty({ format: 'date-time' }) timestamp: string;
}

export class CheckinResponse {
  @ApiProperty({ type: 'object', additionalProperties: true }) checkin: Record<string, unknown>;
  @ApiProperty({ description: 'false: the member was already checked in (nothing changed)' }) created: boolean;
  @ApiProperty({ type: ServiceCounts }) counts: ServiceCounts;
}
