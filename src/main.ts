import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { startApp, stopApp } from './bootstrap';
import { InvalidEnvironmentError } from './config/env.schema';
import { loadConfig } from './config/load-config';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await startApp(config);
  const logger = new Logger('Tether');
  logger.log(`listening on :${config.port} (role ${config.env.TETHER_ROLE})`);
  if (config.usesExampleJwtSecret) logger.warn('MOBILE_JWT_SECRET is the development example; never use it in production');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: draining`);
    // If a hook hangs, do not outlive the orchestrator's grace period silently.
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.http.shutdownGraceMs).unref();
    stopApp(app).then(
      () => process.exit(0),
      (err: Error) => {
        logger.error(`shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: Error) => {
  // One clear line: configuration problems name the variable; anything else says what failed.
  const line = err instanceof InvalidEnvironmentError ? err.message : `Tether failed to start: ${err.message}`;
  process.stderr.write(line + '\n');
  process.exit(1);
});
