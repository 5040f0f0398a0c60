import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import {
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorFunction,
  HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import { AppConfig } from '../../config/app-config';
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
    private readonly config: AppConfig,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and its event loop answers' })
  live() {
    return { status: 'ok' };
  }

  /**
   * Readiness fails on PostgreSQL, and on Redis only with HEALTH_READY_REQUIRES_REDIS: Redis being
   * away is the same for every pod, and a pod out of rotation serves nothing, not even what needs
   * PostgreSQL alone (reads, sync pulls, message sends through the outbox). Redis is reported either way.
   */
  @Get('ready')
  @ApiOperation({ summary: 'Readiness: PostgreSQL reachable (and Redis, if HEALTH_READY_REQUIRES_REDIS) and the pod not draining' })
  @ApiOkResponse({ description: 'Ready; `details.redis` says whether Redis answers' })
  @ApiServiceUnavailableResponse({ type: ErrorResponse, description: 'code `not_ready`' })
  async ready(): Promise<HealthCheckResult> {
    if (this.registry.isDraining) throw new DomainError('not_ready', 'This instance is shutting down', 503);
    if (this.config.health.readyRequiresRedis) return this.run([this.database, this.redisCheck, ...this.registry.indicators('readiness')]);
    const [report, redis] = await Promise.all([
      this.run([this.database, ...this.registry.indicators('readiness')]),
      // A down check resolves (terminus' attempt()), it does not throw.
      this.redisCheck(),
    ]);
    // Reported beside the checks that gate readiness, without failing it.
    const up = redis.redis?.status === 'up';
    return {
      ...report,
      info: { ...report.info, ...(up ? redis : {}) },
      error: { ...report.error, ...(up ? {} : redis) },
      details: { ...report.details, ...redis },
    };
  }

  @Get()
  @ApiOperation({ summary: 'Full health report: database, Redis, queues, sockets' })
  @ApiOkResponse({ description: 'Every check is up' })
  @ApiServiceUnavailableResponse({ type: ErrorResponse, description: 'code `unhealthy`' })
  all() {
    return this.run([...this.core(), ...this.registry.indicators('all')], 'unhealthy');
  }

  private readonly database: HealthIndicatorFunction = () => this.db.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS);
  private readonly redisCheck = (): PromiseLike<HealthIndicatorResult> =>
    this.indicator
      .check('redis')
      .attempt(() => this.redis.ping(CHECK_TIMEOUT_MS))
      .withTimeout(CHECK_TIMEOUT_MS);

  private core(): HealthIndicatorFunction[] {
    return [this.database, this.redisCheck];
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
