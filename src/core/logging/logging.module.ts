import { Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '../../config/app-config';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A caller's X-Request-Id is kept if it is sane, else one is generated; either way it is echoed. */
export function requestIdFor(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/**
 * pino-pretty is a development dependency: an image built without it (npm prune --omit=dev) logs
 * JSON even when asked for pretty lines, instead of failing to start.
 */
function prettyTransport(format: 'pretty' | 'json', level: string) {
  // Silent logs need no transport thread.
  if (format !== 'pretty' || level === 'silent') return undefined;
  try {
    require.resolve('pino-pretty');
  } catch {
    return undefined;
  }
  return { target: 'pino-pretty', options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } };
}

/**
 * Structured logs (pino): JSON in production, readable lines in development (LOG_FORMAT); each
 * request line carries the request id, user and tenant.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.logLevel,
          transport: prettyTransport(config.logFormat, config.logLevel),
          genReqId: (req: IncomingMessage, res: ServerResponse) => (req as IncomingMessage & { id?: string }).id ?? requestIdFor(req, res),
          redact: ['req.headers.authorization', 'req.headers.cookie', 'req.query.token'],
          customProps: (req: IncomingMessage) => {
            const user = (req as IncomingMessage & { user?: { userId: string; tenantId: string } }).user;
            return user ? { userId: user.userId, tenantId: user.tenantId } : {};
          },
          // Probes and scrapes every few seconds would drown the useful lines.
          autoLogging: { ignore: (req: IncomingMessage) => /^\/(health|metrics)/.test(req.url ?? '') },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
