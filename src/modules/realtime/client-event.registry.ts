import { Injectable } from '@nestjs/common';
import type { z } from 'zod';
import type { AuthUser } from '../../core/auth/auth-user';
import { DomainError } from '../../core/http/domain-error';
import type { SubscribeAck, SubscribeRequest, UnsubscribeAck } from './channel-subscriptions';
import { ClientEventProxy } from './client-event.proxy';

/** What a client event handler may know and do about the socket that sent the event. */
export interface SocketContext {
  readonly socketId: string;
  /** The socket's user, as of its latest token. */
  readonly user: AuthUser;
  /** The client confirms deliveries (`auth.ack`); its device, if it named one; its transport. */
  readonly acknowledges: boolean;
  readonly deviceId?: string;
  readonly transport: 'socketio' | 'websocket';
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

/** How a module claims a client event. */
export interface ClientEventOptions {
  /**
   * Which payloads are the module's: others fall through to the client-event proxy when the
   * event's name matches its patterns (e.g. messaging's `message:send` claims payloads with a
   * `conversationId`; the activities app's `{text}` goes to its backend). Without a matching
   * proxy the handler gets every payload, and answers `invalid_payload` for the wrong ones.
   */
  accepts?: (data: unknown) => boolean;
}

/**
 * Every client event the /realtime gateway answers, realtime's own (`subscribe`, `typing:start`...)
 * and other modules' (messaging's `message:send`, compat's `room:join`), so a module adds one
 * without realtime knowing the domain; events no module handles go to the host backend through
 * the client-event proxy when their names match its patterns. All run behind the same per-socket
 * rate limit, from Socket.IO and plain WebSocket clients alike.
 */
@Injectable()
export class ClientEventRegistry {
  private readonly handlers = new Map<string, { handler: ClientEventHandler; accepts?: (data: unknown) => boolean }>();

  constructor(private readonly proxy: ClientEventProxy) {}

  register(event: string, handler: ClientEventHandler, options: ClientEventOptions = {}): void {
    if (this.handlers.has(event)) throw new Error(`client event "${event}" is already handled`);
    this.handlers.set(event, { handler, accepts: options.accepts });
  }

  /** The handler for one event and payload: the module's, else the proxy's, else undefined (`unknown_event`). */
  handlerFor(event: string, data: unknown): ClientEventHandler | undefined {
    const own = this.handlers.get(event);
    if (own && (!own.accepts || own.accepts(data))) return own.handler;
    if (this.proxy.matches(event)) return (ctx, payload) => this.proxy.forward(ctx, event, payload);
    return own?.handler;
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
