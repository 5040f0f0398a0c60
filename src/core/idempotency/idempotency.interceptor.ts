import { CallHandler, ExecutionContext, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable, of } from 'rxjs';
import { AppConfig } from '../../config/app-config';
import type { AuthUser } from '../auth/auth-user';
import { DomainError } from '../http/domain-error';
import { IDEMPOTENT_METHODS, parseIdempotencyKey, REPLAYED_HEADER, requestFingerprint } from './idempotency-key';
import { IdempotencyRepository, KeyHolder, KeyScope, StoredResponse } from './idempotency.repository';

/** A claimed key whose request has not answered after this long may be taken by a retry (its process died). */
const LOCK_MS = 60_000;
/** How often a duplicate looks whether the first request has answered. */
const POLL_MS = 100;
/** Response headers replayed with the body; the rest (request id, rate limits, CORS) belong to each request. */
const KEPT_HEADERS = ['content-type', 'location', 'etag', 'last-modified'];

/**
 * `Idempotency-Key` on every POST, PUT, PATCH and DELETE of an authenticated caller (the IETF
 * httpapi draft, Stripe's convention). The first response (status, body, a few headers) is kept per
 * tenant, user and key for IDEMPOTENCY_TTL_SEC; the same request with the same key gets it again
 * with `Idempotent-Replayed: true` and the handler does not run. The same key with another method,
 * path or body is 422 `idempotency_key_reused`; a duplicate of a request still running waits for
 * its answer (at most IDEMPOTENCY_WAIT_MS, then 409 `idempotency_key_in_progress`). 5xx answers are
 * not kept, so a retry after an outage runs again. Runs after the guards (so 401/403/429 are never
 * kept) and before validation (so a 400 is).
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Idempotency');

  constructor(
    private readonly keys: IdempotencyRepository,
    private readonly config: AppConfig,
  ) {}

  async intercept(ctx: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<Request & { user?: AuthUser }>();
    const res = ctx.switchToHttp().getResponse<Response>();
    const header = req.headers['idempotency-key'];
    if (header === undefined || !IDEMPOTENT_METHODS.has(req.method)) return next.handle();
    const key = parseIdempotencyKey(header);
    // Public routes have no caller to scope a key by; they are left as they are.
    if (!req.user) return next.handle();
    const scope: KeyScope = { tenantId: req.user.tenantId, userId: req.user.userId, key };
    const request = { fingerprint: requestFingerprint(req.method, req.originalUrl, req.body), method: req.method, path: req.originalUrl };

    const { ttlMs, waitMs } = this.config.idempotency;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const holder = await this.keys.claim(scope, request, LOCK_MS, ttlMs);
      if (holder === 'claimed') break;
      if (holder.fingerprint !== request.fingerprint) throw reused(holder);
      if (holder.response) return of(replay(res, holder.response));
      if (Date.now() + POLL_MS > deadline)
        throw new DomainError(
          'idempotency_key_in_progress',
          'A request with this Idempotency-Key is still being processed; retry after the time in Retry-After',
          409,
          undefined,
          { 'Retry-After': '1' },
        );
      await sleep(POLL_MS);
    }
    this.keepResponse(res, scope);
    return next.handle();
  }

  /** Records what is sent (success or the error filter's answer) once the response is over. */
  private keepResponse(res: Response, scope: KeyScope): void {
    let body = '';
    const send = res.send.bind(res);
    // res.json and res.send(object) end in res.send(string): the last string or buffer is the body.
    res.send = ((chunk?: unknown) => {
      if (typeof chunk === 'string') body = chunk;
      else if (Buffer.isBuffer(chunk)) body = chunk.toString('utf8');
      return send(chunk);
    }) as Response['send'];
    res.once('close', () => {
      const answered = res.writableFinished && res.statusCode < 500;
      const headers: Record<string, string> = {};
      for (const name of KEPT_HEADERS) {
        const value = res.getHeader(name);
        if (value !== undefined) headers[name] = String(value);
      }
      const done = answered ? this.keys.complete(scope, { statusCode: res.statusCode, headers, body }) : this.keys.release(scope);
      done.catch((err: Error) => this.logger.warn(`Idempotency-Key not ${answered ? 'recorded' : 'released'}: ${err.message}`));
    });
  }
}

function replay(res: Response, stored: StoredResponse): string | undefined {
  res.status(stored.statusCode);
  for (const [name, value] of Object.entries(stored.headers)) res.setHeader(name, value);
  res.setHeader(REPLAYED_HEADER, 'true');
  return stored.body === '' ? undefined : stored.body;
}

function reused(holder: KeyHolder): DomainError {
  return new DomainError(
    'idempotency_key_reused',
    `This Idempotency-Key was used for another request (${holder.method} ${holder.path} with another body); use a new key per request`,
    422,
  );
}
