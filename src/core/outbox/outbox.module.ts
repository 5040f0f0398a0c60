import { Global, Module, OnModuleInit } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HealthRegistry } from '../health/health.registry';
import { OutboxChannel } from './entities/outbox-channel.entity';
import { OutboxRow } from './entities/outbox-row.entity';
import { OutboxMetrics } from './outbox.metrics';
import { OutboxRelay } from './outbox.relay';
import { OutboxRepository } from './outbox.repository';
import { OutboxService } from './outbox.service';

const HEALTH_TIMEOUT_MS = 1500;

/**
 * The transactional outbox, for every module (global, like health and metrics): OutboxService to
 * record and publish, the relay on worker processes, its metrics, and an `outbox` entry in /health
 * (depth and age of the oldest row; it never fails readiness: a lagging outbox is no reason to stop
 * routing requests here).
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([OutboxRow, OutboxChannel])],
  providers: [OutboxRepository, OutboxService, OutboxMetrics, OutboxRelay],
  exports: [OutboxService],
})
export class OutboxModule implements OnModuleInit {
  constructor(
    private readonly health: HealthRegistry,
    private readonly indicator: HealthIndicatorService,
    private readonly outbox: OutboxService,
  ) {}

  onModuleInit(): void {
    this.health.register(async () => {
      const check = this.indicator.check('outbox');
      try {
        return check.up({ ...(await this.outbox.stats(HEALTH_TIMEOUT_MS)) });
      } catch (err) {
        return check.down({ message: (err as Error).message });
      }
    });
  }
}
