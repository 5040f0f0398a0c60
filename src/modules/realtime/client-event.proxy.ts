import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { DomainError } from '../../core/http/domain-error';
import type { SocketContext } from './client-event.registry';
import { RealtimeMetrics } from './realtime.metrics';

/** An answer larger than this is not relayed to a phone. */
const MAX_ANSWER_BYTES = 1 << 20;
const CODE = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_MESSAGE_LENGTH = 500;

/**
 * Client events Tether does not handle, sent to the host backend (Centrifugo's RPC proxy):
 * `POST CLIENT_EVENT_PROXY_URL {event, data, userId, tenantId, socketId}` (with `Authorization:
 * Bearer SUBSCRIBE_PROXY_SECRET` when set) for events whose names match CLIENT_EVENT_PROXY_EVENTS.
 * The answer is the client's acknowledgement: a 2xx `{result}` acks `result`, an empty 2xx acks
 * `{ok: true}`, `{error: {code, message}}` (any status) acks that error. Anything else (another
 * status without an error body, a body that is not JSON or neither shape, a refused connection,
 * no answer within CLIENT_EVENT_PROXY_TIMEOUT_MS) acks `proxy_unavailable`: the client always
 * hears back, and never an internal error.
 */
@Injectable()
export class ClientEventProxy {
  private readonly logger = new Logger(ClientEventProxy.name);
  private readonly settings;

  constructor(
    config: AppConfig,
    private readonly metrics: RealtimeMetrics,
  ) {
    this.settings = config.clientEventProxy;
  }

  /** Whether events of this name go to the host backend. */
  matches(event: string): boolean {
    return this.settings.events.some((pattern) => pattern.test(event));
  }

  async forward(ctx: SocketContext, event: string, data: unknown): Promise<unknown> {
    try {
      const result = await this.ask(ctx, event, data);
      this.metrics.proxiedEvents.inc({ outcome: 'result' });
      return result;
    } catch (err) {
      this.metrics.proxiedEvents.inc({ outcome: (err as DomainError).code === 'proxy_unavailable' ? 'unavailable' : 'error' });
      throw err;
    }
  }

  private async ask(ctx: SocketContext, event: string, data: unknown): Promise<unknown> {
    const { url, secret, timeoutMs } = this.settings;
    if (!url) throw new DomainError('unknown_event', `Unknown event "${event}"`);
    let status: number;
    let text: string;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
        body: JSON.stringify({ event, data: data ?? null, userId: ctx.user.userId, tenantId: ctx.user.tenantId, socketId: ctx.socketId }),
        redirect: 'manual',
        // Covers the body too: a backend that stalls mid-answer is as unavailable as a silent one.
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      if (Number(response.headers.get('content-length')) > MAX_ANSWER_BYTES) {
        await response.body?.cancel();
        throw this.unavailable(event, 'its answer is too large');
      }
      text = await response.text();
    } catch (err) {
      if (err instanceof DomainError) throw err;
      const timedOut = (err as Error).name === 'TimeoutError';
      throw this.unavailable(event, timedOut ? `no answer within ${timeoutMs} ms` : 'it could not be reached', (err as Error).message);
    }
    if (Buffer.byteLength(text) > MAX_ANSWER_BYTES) throw this.unavailable(event, 'its answer is too large');
    const ok = status >= 200 && status < 300;
    if (!text.trim()) {
      if (ok) return { ok: true };
      throw this.unavailable(event, `it answered ${status}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw this.unavailable(event, `its answer (${status}) is not JSON`);
    }
    const answer = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as { result?: unknown; error?: unknown };
    if (answer.error !== undefined && answer.error !== null) throw hostError(answer.error);
    if (ok && 'result' in answer) return answer.result;
    throw this.unavailable(event, ok ? 'its answer has neither result nor error' : `it answered ${status}`);
  }

  private unavailable(event: string, why: string, detail?: string): DomainError {
    this.logger.warn(`client-event proxy unavailable for "${event}": ${why}${detail ? ` (${detail})` : ''}`);
    return new DomainError('proxy_unavailable', `The app's backend did not answer "${event}": ${why}`, 503);
  }
}

/** The host's `{code, message}`, with a safe code (`host_error` otherwise) and a bounded message. */
function hostError(error: unknown): DomainError {
  const { code, message } = (typeof error === 'object' && error !== null ? error : { message: error }) as {
    code?: unknown;
    message?: unknown;
  };
  return new DomainError(
    typeof code === 'string' && CODE.test(code) ? code : 'host_error',
    typeof message === 'string' && message ? message.slice(0, MAX_MESSAGE_LENGTH) : "The app's backend refused the event",
  );
}
