import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Logger, Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import { RedisService } from '../redis/redis.service';
import { QueueRegistry } from './queue-registry.service';
import { QueueMetrics } from './queue.metrics';
import { QueueWorkers } from './queue-workers.service';
import { QueuesController } from './queues.controller';

const HOUR = 3600;

/**
 * BullMQ for the whole app: one shared connection under the deployment's Redis prefix (so a test
 * run's queues live under its own prefix), finished jobs removed by age and count, and workers
 * created at runtime, only in processes that run them (`TETHER_ROLE` all or worker; see QueueWorkers),
 * and GET /admin/queues. Feature modules import this module, `registerQueues(...)` their own queues
 * and start their workers through QueueWorkers.
 */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [RedisService],
      useFactory: (redis: RedisService) => ({
        ...redis.bullmqConnection('queues'),
        defaultJobOptions: {
          removeOnComplete: { age: HOUR, count: 1000 },
          removeOnFail: { age: 7 * 24 * HOUR, count: 10_000 },
        },
        streams: { events: { maxLen: 1000 } },
      }),
    }),
  ],
  controllers: [QueuesController],
  providers: [QueueWorkers, QueueRegistry, QueueMetrics],
  exports: [QueueWorkers, QueueRegistry],
})
export class QueueModule {}

const logger = new Logger('Queue');

/** A BullMQ queue that logs its connection errors (an `error` event nobody listens to is printed raw). */
class LoggedQueue extends Queue {
  constructor(...args: ConstructorParameters<typeof Queue>) {
    super(...args);
    this.on('error', (err: Error) => logger.warn(`queue ${this.name}: ${err.message}`));
  }
}

/** `BullModule.registerQueue` for these queue names, with error logging attached from the start. */
export function registerQueues(...names: string[]): DynamicModule {
  BullModule.queueClass = LoggedQueue;
  return BullModule.registerQueue(...names.map((name) => ({ name })));
}
