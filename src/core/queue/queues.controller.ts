import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiServiceUnavailableResponse,
} from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { Roles, ServerApi } from '../auth/auth.decorators';
import { validationFailed } from '../http/domain-error';
import { ErrorResponse } from '../http/error-response.dto';
import { OutboxService } from '../outbox/outbox.service';
import type { FailedJobView, SkippedJob } from './failed-jobs';
import { JOB_STATES, QueueRegistry } from './queue-registry.service';

const MAX_JOB_IDS = 1000;

class QueueStatus {
  @ApiProperty({ example: 'push-delivery' }) name: string;
  @ApiProperty({
    type: 'object',
    properties: Object.fromEntries(JOB_STATES.map((s) => [s, { type: 'integer' }])),
    description: 'Jobs per state',
  })
  counts: Record<string, number>;
}

class OutboxStatus {
  @ApiProperty({ example: 0, description: 'Rows (events and jobs) committed changes still owe Redis' }) depth: number;
  @ApiProperty({ example: 0, description: 'Age of the oldest of them, in seconds (0 when none)' }) oldestAgeSeconds: number;
}

class QueuesResponse {
  @ApiProperty({ type: [QueueStatus] }) queues: QueueStatus[];
  @ApiProperty({ type: OutboxStatus, description: 'The transactional outbox in front of the queues and the realtime log' })
  outbox: OutboxStatus;
}

class FailedJobsQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0, description: 'Failures to skip, most recent first (nextOffset of the previous page)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  offset?: number;
}

class FailedJob {
  @ApiProperty({ example: 'd-4f1c...-0' }) id: string;
  @ApiProperty({ example: 'deliver' }) name: string;
  @ApiProperty({ example: 'messaging/server-unavailable', description: 'The error of the last attempt (at most 500 characters)' })
  failedReason: string;
  @ApiProperty({ example: 8 }) attemptsMade: number;
  @ApiProperty({ example: 8, description: 'Attempts the job was given' }) attempts: number;
  @ApiProperty() createdAt: string;
  @ApiProperty({ nullable: true, type: String }) processedAt: string | null;
  @ApiProperty({ nullable: true, type: String }) failedAt: string | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      'Top-level fields of the job data: scalars (strings trimmed), arrays and objects described (`array(3)`), secrets `[redacted]`',
    example: { notificationId: '9b2e...', tenantId: 't1', deviceIds: 'array(500)', payload: 'object(title, body, data)' },
  })
  data: Record<string, unknown>;
}

class FailedJobsResponse {
  @ApiProperty({ example: 'push-delivery' }) queue: string;
  @ApiProperty({ description: 'Failed jobs kept in the queue (BullMQ keeps them 7 days, at most 10000)' }) total: number;
  @ApiProperty({ type: [FailedJob] }) jobs: FailedJobView[];
  @ApiProperty({ nullable: true, type: Number, description: 'offset of the next page, null on the last one' }) nextOffset: number | null;
}

class RetryFailedBody {
  @ApiPropertyOptional({ type: [String], description: `Jobs to retry (at most ${MAX_JOB_IDS}); absent: every failed job` })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_JOB_IDS)
  @IsString({ each: true })
  @Length(1, 200, { each: true })
  jobIds?: string[];
}

class CleanFailedBody extends RetryFailedBody {
  @ApiPropertyOptional({ minimum: 0, default: 0, description: 'Without jobIds: only failures older than this many milliseconds' })
  @IsOptional()
  @IsInt()
  @Min(0)
  graceMs?: number;

  @ApiPropertyOptional({ minimum: 1, description: 'Without jobIds: remove at most this many (default: all)' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  limit?: number;
}

class Skipped {
  @ApiProperty() jobId: string;
  @ApiProperty({ enum: ['not_found', 'not_failed'] }) reason: string;
}

class RetryFailedResponse {
  @ApiProperty({ description: 'Jobs moved back to waiting' }) retried: number;
  @ApiProperty({ type: [Skipped], description: 'Named jobs left alone' }) skipped: SkippedJob[];
}

class CleanFailedResponse {
  @ApiProperty({ description: 'Failed jobs removed' }) removed: number;
  @ApiProperty({ type: [Skipped], description: 'Named jobs left alone' }) skipped: SkippedJob[];
}

/** The app's queues for operators (server API): every module's, all tenants alike. */
@ServerApi()
@Controller('admin')
export class QueuesController {
  constructor(
    private readonly queues: QueueRegistry,
    private readonly outbox: OutboxService,
  ) {}

  @Get('queues')
  @ApiOperation({ summary: 'Jobs per state in each queue, and the outbox (all tenants: queues are shared)' })
  @ApiOkResponse({ type: QueuesResponse })
  async queueCounts(): Promise<QueuesResponse> {
    const [queues, outbox] = await Promise.all([this.queues.counts(), this.outbox.stats()]);
    return { queues, outbox };
  }

  // Failed jobs carry other tenants' ids and data summaries: the platform's own SERVICE identity
  // only, never a tenant's ADMIN (the counts above reveal nothing of a tenant).
  @Get('queues/:queue/failed')
  @Roles('SERVICE')
  @ApiOperation({ summary: "A queue's failed jobs, most recent first, with their reasons (all tenants)" })
  @ApiOkResponse({ type: FailedJobsResponse })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'code `queue_not_found`' })
  @ApiServiceUnavailableResponse({ type: ErrorResponse, description: 'code `redis_unavailable`' })
  async failed(@Param('queue') queue: string, @Query() query: FailedJobsQuery): Promise<FailedJobsResponse> {
    const offset = query.offset ?? 0;
    const { total, jobs } = await this.queues.failed(queue, offset, query.limit ?? 20);
    const next = offset + jobs.length;
    return { queue, total, jobs, nextOffset: jobs.length && next < total ? next : null };
  }

  @Post('queues/:queue/failed/retry')
  @Roles('SERVICE')
  @HttpCode(200)
  @ApiOperation({ summary: 'Retry failed jobs of a queue: all, or the ones named (attempts are not reset)' })
  @ApiOkResponse({ type: RetryFailedResponse })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'code `queue_not_found`' })
  @ApiServiceUnavailableResponse({ type: ErrorResponse, description: 'code `redis_unavailable`' })
  retry(@Param('queue') queue: string, @Body() body: RetryFailedBody): Promise<RetryFailedResponse> {
    return this.queues.retryFailed(queue, body.jobIds);
  }

  @Post('queues/:queue/failed/clean')
  @Roles('SERVICE')
  @HttpCode(200)
  @ApiOperation({ summary: 'Remove failed jobs of a queue: those older than graceMs (all by default), or the ones named' })
  @ApiOkResponse({ type: CleanFailedResponse })
  @ApiNotFoundResponse({ type: ErrorResponse, description: 'code `queue_not_found`' })
  @ApiServiceUnavailableResponse({ type: ErrorResponse, description: 'code `redis_unavailable`' })
  clean(@Param('queue') queue: string, @Body() body: CleanFailedBody): Promise<CleanFailedResponse> {
    if (body.jobIds && (body.graceMs !== undefined || body.limit !== undefined))
      throw validationFailed([{ field: 'jobIds', messages: ['jobIds cannot be combined with graceMs or limit'] }]);
    return this.queues.cleanFailed(queue, body);
  }
}
