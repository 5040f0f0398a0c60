import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { CONFLICT_STRATEGIES, ConflictStrategy } from '../sync.registry';
import { MAX_PAGE_SIZE } from '../sync.service';

export class PullQueryDto {
  @ApiPropertyOptional({
    description:
      'First catch-up: changes after this time (ISO 8601). With the `timestamp` of a previous response it resumes exactly there.',
    example: '2024-01-01T00:00:00.000Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  updatedAfter?: string;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page (opaque)' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  cursor?: string;

  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: MAX_PAGE_SIZE })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;
}

export class ChangesQueryDto {
  @ApiPropertyOptional({ description: 'Comma-separated collections (default: all)', example: 'events,members' })
  @IsOptional()
  @Matches(/^[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*$/, { message: 'collections must be a comma-separated list like "events,members"' })
  collections?: string;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous /sync/changes response (opaque)' })
  @IsOptional()
  @IsString()
  @MaxLength(8192)
  cursor?: string;

  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: MAX_PAGE_SIZE, description: 'Page size per collection' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;
}

export class SyncPageResponse {
  @ApiProperty({
    description: 'The rows, under the collection name (`events`, `members`, `rsvps`, `checkins`)',
    type: 'array',
    items: { type: 'object' },
  })
  '<collection>': object[];
  @ApiProperty({ type: [String], description: 'Ids deleted, or no longer visible to the caller' }) deleted: string[];
  @ApiProperty({ description: 'Pass as `cursor` for the next page or the next sync' }) nextCursor: string;
  @ApiProperty({ description: 'More changes are ready: ask again at once with nextCursor' }) hasMore: boolean;
  @ApiProperty({ format: 'date-time', description: 'Server time; usable as `updatedAfter` by clients that keep no cursor' })
  timestamp: string;
}

/** What every offline mutation item carries, whatever its kind. */
export class BulkItemBase {
  @ApiProperty({
    description: 'Client-generated id of this mutation (idempotency key, per user)',
    example: '6f1c9a8e-2b7d-4c1e-9a55-0d4f3e2b1a90',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  offlineId: string;

  @ApiPropertyOptional({ description: 'fail-on-conflict: the version the client last saw (absent when creating)', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  baseVersion?: number;

  @ApiPropertyOptional({ description: 'last-write-wins: when the client made the change (future times count as now)', format: 'date-time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  clientUpdatedAt?: string;
}

export class BulkEnvelope {
  @ApiPropertyOptional({ enum: CONFLICT_STRATEGIES, default: 'last-write-wins' })
  @IsOptional()
  @IsIn(CONFLICT_STRATEGIES)
  conflictResolution?: ConflictStrategy;
}

export class BulkItemResultDto {
  @ApiProperty({ nullable: true }) offlineId: string | null;
  @ApiProperty({ enum: ['created', 'updated', 'duplicate', 'conflict', 'rejected'] }) status: string;
  @ApiPropertyOptional({ enum: ['created', 'updated'], description: 'duplicate: what the first application did' }) originalStatus?: string;
  @ApiPropertyOptional({ description: 'Server id of the row' }) id?: string;
  @ApiPropertyOptional() serverVersion?: number;
  @ApiPropertyOptional({ type: 'object', nullable: true, additionalProperties: true, description: 'conflict: the server row' })
  server?: object | null;
  @ApiPropertyOptional({ example: { code: 'stale_write', message: 'The server has a newer change' } })
  error?: { code: string; message: string; retryable?: boolean; details?: unknown[] };
}

export class BulkResponse {
  @ApiProperty({ type: [BulkItemResultDto], description: 'One per item, in request order' }) results: BulkItemResultDto[];
}
