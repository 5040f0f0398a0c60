import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty } from '@nestjs/swagger';
import { ServerApi } from '../auth/auth.decorators';
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
@ServerApi()
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
