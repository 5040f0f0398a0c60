import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { NotificationsService } from './notifications.service';

/**
 * On worker processes, on a plain timer (it matters after Redis lost its data, when no BullMQ
 * scheduler would run): notifications still `pending` after NOTIFICATIONS_SWEEP_AFTER_MS whose
 * fan-out job is gone get it again, through the outbox, under the same job id.
 */
@Injectable()
export class NotificationsSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(NotificationsSweeper.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly notifications: NotificationsService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.runsWorkers) return;
    const after = this.config.push.sweepAfterMs;
    this.timer = setInterval(
      () => {
        this.running ??= this.notifications
          .sweepPending(after)
          .then((n) => {
            if (n) this.logger.warn(`${n} pending notifications had lost their fan-out job: enqueued again`);
          })
          .catch((err: Error) => this.logger.debug(`sweep of pending notifications failed: ${err.message}`))
          .finally(() => (this.running = undefined));
      },
      Math.max(1000, Math.round(after / 2)),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
