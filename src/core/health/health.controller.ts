import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import {
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorFunction,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import { Public } from '../auth/auth.decorators';
import { DomainError } from '../http/domain-error';
import { ErrorResponse } from '../http/error-response.dto';
import { RedisService } from '../redis/redis.service';
import { HealthRegistry } from './health.registry';

const CHECK_TIMEOUT_MS = 1500;

@ApiTags('operations')
@Public()
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicator: HealthIndicatorService,
    private readonly redis: RedisService,
    private readonly registry: HealthRegistry,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and its event loop answers' })
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: PostgreSQL and Redis reachable and the pod not draining' })
  @ApiOkResponse({ description: 'Ready' })
  @ApiServiceUnavailableResponse({ type: ErrorResponse, description: 'code `not_ready`' })
  ready() {
    if (this.registry.isDraining) throw new DomainError('not_ready', 'This instance is shutting down', 503);
    return this.run([...this.core(), ...this.registry.indicators('readiness')]);
  }

  @Get()
  @ApiOperation({ summary: 'Full health report: database, Redis, queues, sockets' })
  @ApiOkResponse({ description: 'Every check is up' })
  @ApiServiceUnavailableResponse({ type: ErrorResponse, description: 'code `unhealthy`' })
  all() {
    return this.run([...this.core(), ...this.registry.indicators('all')], 'unhealthy');
  }

  private core(): HealthIndicatorFunction[] {
    return [
      () => this.db.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicator
          .check('redis')
          .attempt(() => this.redis.ping(CHECK_TIMEOUT_MS))
          .withTimeout(CHECK_TIMEOUT_MS),
    ];
  }

  /** Terminus' report on success; on failure the one error shape, with each check in `details`. */
  private async run(indicators: HealthIndicatorFunction[], code = 'not_ready'): Promise<HealthCheckResult> {
    try {
      return await this.health.check(indicators);
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      const report = err.getResponse() as HealthCheckResult;
      const details = Object.entries(report.details).map(([name, result]) => ({ name, ...result }));
      const down = details.filter((d) => d.status === 'down').map((d) => d.name);
      throw new DomainError(code, `Unavailable: ${down.join(', ')}`, 503, details);
    }
  }
}
