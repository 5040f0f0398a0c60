import { BullRegistrar, WorkerHost } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Injectable, OnModuleInit } from '@nestjs/common';
import type { WorkerOptions } from 'bullmq';
import { AppConfig } from '../../config/app-config';
import { RedisService } from '../redis/redis.service';

/** What `@Processor(queue, options)` takes: BullMQ's worker options but the connection. */
export type NestWorkerOptions = Omit<WorkerOptions, 'connection'>;

const staticOptions = new Map<string, NestWorkerOptions>();

/**
 * The worker options object to give `@Processor(queue, workerOptions(queue))`. Decorator options
 * are fixed when the class loads, before any config exists; QueueWorkers fills this object with
 * the app's settings right before it creates the workers.
 */
export function workerOptions(queue: string): NestWorkerOptions {
  let options = staticOptions.get(queue);
  if (!options) staticOptions.set(queue, (options = {}));
  return options;
}

/**
 * Creates the BullMQ workers of every `@Processor` when this process runs workers
 * (`AppConfig.runsWorkers`); an API-only process keeps its queues (it enqueues) but runs none.
 * @nestjs/bullmq closes the workers on app.close(), letting active jobs finish.
 */
@Injectable()
export class QueueWorkers implements OnModuleInit, BeforeApplicationShutdown {
  private readonly settings = new Map<string, NestWorkerOptions>();
  private readonly hosts: WorkerHost[] = [];

  constructor(
    private readonly config: AppConfig,
    private readonly registrar: BullRegistrar,
    private readonly redis: RedisService,
  ) {}

  get enabled(): boolean {
    return this.config.runsWorkers;
  }

  /** Processors call this from their constructor with this app's settings for their queue. */
  configure(host: WorkerHost, queue: string, options: NestWorkerOptions): void {
    this.settings.set(queue, options);
    this.hosts.push(host);
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    // Fill the static option objects and create the workers in one synchronous step, so two apps
    // booting in one process (as in tests) cannot see each other's settings.
    for (const [queue, options] of this.settings) {
      const target = workerOptions(queue) as Record<string, unknown>;
      for (const key of Object.keys(target)) delete target[key];
      Object.assign(target, options);
    }
    this.registrar.register();
  }

  /**
   * @nestjs/bullmq then closes each worker gracefully (active jobs finish). But a worker that never
   * reached Redis waits for it forever in close(); with Redis away no job can be in flight, so
   * those are closed at once instead.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.enabled || this.redis.client.status === 'ready') return;
    await Promise.all(
      this.hosts.map((host) => {
        try {
          return host.worker.close(true);
        } catch {
          return undefined; // never created
        }
      }),
    );
  }
}
