import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../../core/auth/auth-user';

/**
 * Answers one client event. The result is the acknowledgement; a DomainError becomes
 * `{error: {code, message}}`, like the gateway's own events.
 */
export type ClientEventHandler = (user: AuthUser, data: unknown) => unknown;

/**
 * Lets a domain module add a client event to the /realtime gateway (messaging adds
 * `message:send`) without realtime knowing the domain. Handlers run behind the same per-socket
 * rate limit as the built-in events.
 */
@Injectable()
export class ClientEventRegistry {
  private static readonly RESERVED = new Set(['subscribe', 'unsubscribe', 'auth:refresh', 'typing:start', 'typing:stop', 'room:join', 'room:leave']);
  private readonly handlers = new Map<string, ClientEventHandler>();

  register(event: string, handler: ClientEventHandler): void {
    if (ClientEventRegistry.RESERVED.has(event) || this.handlers.has(event))
      throw new Error(`client event "${event}" is already handled`);
    this.handlers.set(event, handler);
  }

  get(event: string): ClientEventHandler | undefined {
    return this.handlers.get(event);
  }
}
