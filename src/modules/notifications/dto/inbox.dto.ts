import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsISO8601, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { CATEGORIES } from '../notifications.constants';

export class InboxQueryDto {
  @ApiPropertyOptional({ format: 'date-time', description: 'Only notifications created after this instant' })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @Matches(/^[0-9]{1,19}$/, { message: 'cursor must be a nextCursor value' })
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

export class InboxItem {
  @ApiProperty({ format: 'uuid', description: 'The notification id (also in the push data as notificationId)' }) id: string;
  @ApiProperty({ enum: CATEGORIES }) category: string;
  @ApiProperty({ enum: ['high', 'normal', 'low'] }) priority: string;
  @ApiPropertyOptional({ nullable: true, type: String }) title: string | null;
  @ApiPropertyOptional({ nullable: true, type: String }) body: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) data: Record<string, string>;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, type: String }) readAt: string | null;
}

export class InboxPage {
  @ApiProperty({ type: [InboxItem], description: 'Newest first' }) items: InboxItem[];
  @ApiPropertyOptional({ nullable: true, type: String, description: 'Pass as cursor for the next (older) page; null at the end' })
  nextCursor: string | null;
  @ApiProperty() hasMore: boolean;
  @ApiProperty({ description: 'Unread notifications in the whole inbox' }) unreadCount: number;
}

export class ReadResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'date-time' }) readAt: string;
}

export class ReadAllResponse {
  @ApiProperty({ description: 'Entries newly marked read' }) updated: number;
}
