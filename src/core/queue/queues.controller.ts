import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty } from '@nestjs/swagger';
import { ServerApi } from '../auth/auth.decorators';
import { OutboxService } from '../outbox/outbox.service';
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

class OutboxStatus {
  @ApiProperty({ example: 0, description: 'Rows (events and jobs) committed changes still owe Redis' }) depth: number;
  @ApiProperty({ example: 0, description: 'Age of the oldest of them, in seconds (0 when none)' }) oldestAgeSeconds: number;
}

class QueuesResponse {
  @ApiProperty({ type: [QueueStatus] }) queues: QueueStatus[];
  @ApiProperty({ type: OutboxStatus, description: 'The transactional outbox in front of the queues and the realtime log' })
  outbox: OutboxStatus;
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
}
