import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { DomainError } from './domain-error';
import { UNAVAILABLE_RETRY_AFTER_SECONDS, unavailableDependency } from './unavailable';

/** Codes for errors Nest or Express raise before our code runs. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  410: 'gone',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'service_unavailable',
};

export interface ErrorBody {
  statusCode: number;
  error: string;
  code: string;
  message: string;
  details?: unknown[];
  requestId: string;
}

/** DESIGN.md's error shape; `error` is the status's reason phrase. */
export function errorBody(statusCode: number, code: string, message: string, requestId: string, details?: unknown[]): ErrorBody {
  return {
    statusCode,
    error: STATUS_CODES[statusCode] ?? 'Error',
    code,
    message,
    ...(details?.length ? { details } : {}),
    requestId,
  };
}

/**
 * Maps every error to DESIGN.md's shape. PostgreSQL or Redis being away is a 503
 * (`database_unavailable`, `redis_unavailable`) with Retry-After, logged as a warning. Unknown
 * errors are logged with the request id and answered as a bare 500: no stack, no SQL.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request & { id?: string }>();
    const res = ctx.getResponse<Response>();
    const requestId = String(req.id ?? res.getHeader('x-request-id') ?? '');
    const { body, headers } = this.toBody(exception, requestId);
    if (body.code === 'redis_unavailable' || body.code === 'database_unavailable')
      this.logger.warn({ requestId, cause: (exception as Error).message }, body.message);
    else if (body.statusCode >= 500) this.logger.error({ err: exception, requestId }, body.message);
    if (res.headersSent) return;
    for (const [k, v] of Object.entries(headers ?? {})) res.setHeader(k, v);
    res.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown, requestId: string): { body: ErrorBody; headers?: Record<string, string> } {
    const make = (statusCode: number, code: string, message: string, details?: unknown[]): ErrorBody =>
      errorBody(statusCode, code, message, requestId, details);

    if (exception instanceof DomainError)
      return { body: make(exception.status, exception.code, exception.message, exception.details), headers: exception.headers };
    if (exception instanceof ThrottlerException)
      return { body: make(429, 'rate_limited', 'Too many requests; retry after the time in Retry-After') };
    // Express and body-parser errors arrive wrapped in an HttpException with the original as cause.
    const cause = (exception as { cause?: { type?: string } })?.cause;
    if (cause?.type === 'entity.too.large') return { body: make(413, 'payload_too_large', 'The request body is too large') };
    if (cause?.type === 'entity.parse.failed') return { body: make(400, 'invalid_json', 'The request body is not valid JSON') };
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const message = typeof response === 'string' ? response : String((response as { message?: unknown }).message ?? exception.message);
      return { body: make(status, CODE_BY_STATUS[status] ?? 'http_error', message) };
    }
    const away = unavailableDependency(exception);
    if (away) return { body: make(503, away.code, away.message), headers: { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) } };
    return { body: make(HttpStatus.INTERNAL_SERVER_ERROR, 'internal_error', 'Internal server error') };
  }
}
