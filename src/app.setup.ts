import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import compression from 'compression';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppConfig } from './config/app-config';
import { TenantScope } from './core/database/tenant-scope';
import { documentIdempotencyKey, REPLAYED_HEADER } from './core/idempotency';
import { createValidationPipe } from './core/http/validation';
import { requestIdFor } from './core/logging/logging.module';
import { MESSAGING_ALIAS_PATH } from './modules/compat/messaging-alias.controller';
import { WEBSOCKET_CONTROL_PATH } from './modules/compat/websocket-control.controller';
import { DEMO_PATH } from './modules/demo';
import { PUSH_TOKEN_ALIAS_PATH } from './modules/devices/push-token-alias.controller';
import { RedisIoAdapter } from './modules/realtime/redis-io.adapter';

export const API_PREFIX = 'api/mobile/v1';
/** Smaller responses go out as they are: compressing them saves less than its headers and CPU cost. */
export const COMPRESSION_MIN_BYTES = 1024;

/** Everything main.ts and the tests both need on an app before it listens. */
export function configureApp(app: NestExpressApplication, config: AppConfig): void {
  app.useLogger(app.get(Logger));
  // First of all, so even body-parser errors carry the request id.
  app.use((req: Request & { id?: string }, res: Response, next: NextFunction) => {
    req.id = requestIdFor(req, res);
    next();
  });
  // Probes and scrapes stay at the root, where Kubernetes and Prometheus expect them; the bookings app's
  // push-token route, the venues app's control route and the messaging app's conversation routes keep
  // the paths their callers already use; the demo page is a page, not API.
  app.setGlobalPrefix(API_PREFIX, {
    exclude: [
      'health',
      'health/*path',
      'metrics',
      PUSH_TOKEN_ALIAS_PATH,
      `${PUSH_TOKEN_ALIAS_PATH}/:pushToken`,
      WEBSOCKET_CONTROL_PATH,
      MESSAGING_ALIAS_PATH,
      `${MESSAGING_ALIAS_PATH}/*path`,
      DEMO_PATH,
      `${DEMO_PATH}/*path`,
    ],
  });
  app.useGlobalPipes(createValidationPipe());
  // Responses of 1 KB and more in the encoding the client accepts (br, then gzip): a sync page of
  // JSON shrinks about twelvefold, and phones pay for every byte. Brotli at quality 4 and gzip at
  // 6 cost little CPU next to the query (bench/sync prints both). Socket.IO's own traffic is not
  // express's and is left alone.
  if (config.http.compression) app.use(compression({ threshold: COMPRESSION_MIN_BYTES }));
  app.use(helmet({ contentSecurityPolicy: false })); // the Swagger UI at /docs needs inline scripts; /demo sets its own
  app.enableCors({ origin: config.http.corsOrigins, credentials: true, exposedHeaders: ['X-Request-Id', 'Retry-After', REPLAYED_HEADER] });
  app.useBodyParser('json', { limit: config.http.bodyLimit });
  app.useBodyParser('urlencoded', { limit: config.http.bodyLimit, extended: false });
  // After the body parsers (whose stream callbacks would leave it): every request's database scope,
  // which the auth guard gives the token's tenant (row-level security; see core/database).
  app.use((_req: Request, _res: Response, next: NextFunction) => TenantScope.open(next));
  app.useWebSocketAdapter(new RedisIoAdapter(app));
  app.set('trust proxy', 1); // behind one load balancer: req.ip is the client's address
  // No ETag: no answer here is cacheable (each depends on the caller's token, and sync pages on a
  // cursor), and Express hashed every body for it: about 5% of a sync pull's CPU on 200 KB pages.
  app.set('etag', false);

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Tether')
      .setDescription('Realtime, push notifications, offline sync and messaging for mobile apps')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      .build(),
  );
  documentIdempotencyKey(document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
