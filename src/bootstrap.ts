import type { InjectionToken, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { AppConfig } from './config/app-config';
import { notFoundFallback } from './core/http/not-found';
import { HealthRegistry } from './core/health/health.registry';
import { TokenVerifier } from './core/auth/token-verifier.service';

/** A provider replaced by another value wherever it is injected, e.g. `{ provide: PushSender, useValue: scripted }`. */
export interface ProviderOverride {
  provide: InjectionToken;
  useValue: unknown;
}

export interface StartOptions {
  /** Modules mounted beside the real ones (a test's probe controller). */
  extraModules?: Type[];
  /** Providers replaced through Nest's testing module: tests only (@nestjs/testing is a dev dependency). */
  overrides?: ProviderOverride[];
}

const APP_OPTIONS = {
  bufferLogs: true,
  bodyParser: false, // configured in configureApp with our size limit
};

/** Builds, configures and starts an app on `config.port` (0 picks a free port). */
/** Pending connections the kernel queues for the app (capped by net.core.somaxconn, 4096 on current kernels). */
const LISTEN_BACKLOG = 4096;

export async function startApp(config: AppConfig, options: StartOptions = {}): Promise<NestExpressApplication> {
  const app = await createApp(config, options);
  try {
    configureApp(app, config);
    await app.get(TokenVerifier).assertUsable();
    // Routes (Nest's, Swagger's) are registered at init; only then can a catch-all go last.
    await app.init();
    app.use(notFoundFallback);
    // Every host (Node's default), with a deeper accept queue than Node's 511: a reconnect storm
    // (a pod died, its thousands of sockets arrive within a second) otherwise overflows it and the
    // kernel retries the dropped handshakes 1, 3, 7, 15 s later (bench/reconnect-storm).
    await (app.listen as (port: number, host: undefined, backlog: number) => Promise<unknown>)(config.port, undefined, LISTEN_BACKLOG);
    return app;
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
}

async function createApp(config: AppConfig, { extraModules = [], overrides = [] }: StartOptions): Promise<NestExpressApplication> {
  const root = AppModule.forRoot(config, extraModules);
  if (!overrides.length) return NestFactory.create<NestExpressApplication>(root, APP_OPTIONS);
  // Loaded only when a test asks for overrides, so production never needs the dev dependency.
  const { Test } = await import('@nestjs/testing');
  const builder = Test.createTestingModule({ imports: [root] });
  for (const { provide, useValue } of overrides) builder.overrideProvider(provide).useValue(useValue);
  const moduleRef = await builder.compile();
  return moduleRef.createNestApplication<NestExpressApplication>(APP_OPTIONS);
}

/**
 * Graceful stop: readiness fails first, then Nest closes the HTTP server, sockets, queues and
 * pools (each module's shutdown hooks), and the process exits 0.
 */
export async function stopApp(app: NestExpressApplication): Promise<void> {
  app.get(HealthRegistry).markDraining();
  await app.close();
}
