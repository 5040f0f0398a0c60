import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { AppConfig } from './config/app-config';
import { HealthRegistry } from './core/health/health.registry';
import { TokenVerifier } from './core/auth/token-verifier.service';

/**
 * Builds, configures and starts an app on `config.port` (0 picks a free port). `extraModules`
 * lets a test mount a probe controller beside the real modules.
 */
export async function startApp(config: AppConfig, extraModules: Type[] = []): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, extraModules), {
    bufferLogs: true,
    bodyParser: false, // configured in configureApp with our size limit
  });
  try {
    configureApp(app, config);
    await app.get(TokenVerifier).assertUsable();
    await app.listen(config.port);
    return app;
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Graceful stop: readiness fails first, then Nest closes the HTTP server, sockets, queues and
 * pools (each module's shutdown hooks), and the process exits 0.
 */
export async function stopApp(app: NestExpressApplication): Promise<void> {
  app.get(HealthRegistry).markDraining();
  await app.close();
}
