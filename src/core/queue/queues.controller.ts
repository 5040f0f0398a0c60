import { Controller, Get } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Roles } from '../auth/auth.decorators';
import { ErrorResponse } from '../http/error-response.dto';
import { JOB_STATES, QueueRegistry } from './queue-registry.service';

class QueueStatus {
  @ApiProperty({ example: 'push-delivery' }) name: string;
  @ApiProperty({
    type: 'object',
    properties: Object.fromEntries(JOB_STATES.map((s) => [s, { type: 'integer' }])),
    description: 'Jobs per state',
  })
  counts: Record<string, number>;
}

class QueuesResponse {
  @ApiProperty({ type: [QueueStatus] }) queues: QueueStatus[];
}

/** The app's queues for operators (server API): every module's, all tenants alike. */
@ApiTags('server API')
@ApiBearerAuth()
@Roles('SERVICE', 'ADMIN')
@ApiUnauthorizedResponse({ type: ErrorResponse, description: 'Missing, invalid or expired access token' })
@ApiForbiddenResponse({ type: ErrorResponse, description: 'code `forbidden`: needs role SERVICE or ADMIN' })
@Controller('admin')
export class QueuesController {
  constructor(private readonly queues: QueueRegistry) {}

  @Get('queues')
  @ApiOperation({ summary: 'Jobs per state in each queue (all tenants: queues are shared)' })
  @ApiOkResponse({ type: QueuesResponse })
  async queueCounts(): Promise<QueuesResponse> {
    return { queues: await this.queues.counts() };
  }
}
