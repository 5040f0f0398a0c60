import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { IdempotencyRepository } from './idempotency.repository';

/**
 * Deletes expired Idempotency-Key responses on a plain timer, on API processes (the ones that write
 * them), one process at a time through a PostgreSQL advisory lock: no Redis, no BullMQ. Expired
 * keys are already ignored by lookups; this only gives the space back.
 */
@Injectable()
export class IdempotencyCleaner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Idempotency');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly keys: IdempotencyRepository,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.runsApi) return;
    this.timer = setInterval(() => void this.cleanup(), this.config.idempotency.cleanupIntervalMs);
    this.timer.unref();
  }

  /** One round; resolves with the number deleted (null when another process had the turn or it failed). */
  cleanup(): Promise<number | null> {
    const round = this.keys.deleteExpired().catch((err: Error) => {
      this.logger.debug(`cleanup of expired keys failed: ${err.message}`);
      return null;
    });
    this.running = round;
    return round;
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
