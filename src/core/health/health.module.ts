import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { HealthRegistry } from './health.registry';

@Global()
@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [HealthRegistry],
  // TerminusModule re-exported so modules can build indicators with HealthIndicatorService.
  exports: [HealthRegistry, TerminusModule],
})
export class HealthModule {}
