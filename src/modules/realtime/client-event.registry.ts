import { Injectable } from '@nestjs/common';
import type { z } from 'zod';
import type { AuthUser } from '../../core/auth/auth-user';
import { DomainError } from '../../core/http/domain-error';
import type { SubscribeAck, SubscribeRequest, UnsubscribeAck } from './channel-subscriptions';

/** What a client event handler may know and do about the socket that sent the event. */
export interface SocketContext {
  readonly socketId: string;
  /** The socket's user, as of its latest token. */
  readonly user: AuthUser;
  /** Channels the socket is subscribed to. */
  readonly channels: ReadonlySet<string>;
  /** Subscribes the socket, through the channel policies, with recovery for channels named in `since`. */
  subscribe(request: SubscribeRequest): Promise<SubscribeAck>;
  unsubscribe(channels: string[]): Promise<UnsubscribeAck>;
  /** Replaces the socket's token with a fresh one for the same user and tenant (`auth:refresh`). */
  refreshToken(token: string): Promise<{ expiresAt: string }>;
}

/**
 * Answers one client event. The result is the acknowledgement (`{ok: true}` when there is none);
 * a DomainError becomes `{error: {code, message}}`.
 */
export type ClientEventHandler = (ctx: SocketContext, data: unknown) => unknown;

/**
 * Every client event the /realtime gateway answers, realtime's own (`subscribe`, `typing:start`...)
 * and other modules' (messaging's `message:send`, compat's `room:join`), so a module adds one
 * without realtime knowing the domain. All run behind the same per-socket rate limit.
 */
@Injectable()
export class ClientEventRegistry {
  private readonly handlers = new Map<string, ClientEventHandler>();

  register(event: string, handler: ClientEventHandler): void {
    if (this.handlers.has(event)) throw new Error(`client event "${event}" is already handled`);
    this.handlers.set(event, handler);
  }

  get(event: string): ClientEventHandler | undefined {
    return this.handlers.get(event);
  }
}

/** Checks a client event's payload; a mismatch is `invalid_payload`, saying what was expected and what was wrong. */
export function parsePayload<T>(schema: z.ZodType<T>, data: unknown, expected: string): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  throw new DomainError('invalid_payload', `Expected ${expected} (${where}${issue.message})`);
}
