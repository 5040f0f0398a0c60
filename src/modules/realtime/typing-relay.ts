import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { z } from 'zod';
import type { AuthUser } from '../../core/auth/auth-user';
import { DomainError } from '../../core/http/domain-error';
import { parseChannel, userChannel } from './channels/channel';
import { parsePayload, SocketContext } from './client-event.registry';
import { LiveOptions, RealtimeService } from './realtime.service';

const TYPING_THROTTLE_MS = 2000;
const TYPING_TIMEOUT_MS = 5000;

const ID = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform(String)
  .pipe(z.string().regex(/^[A-Za-z0-9_.@|-]{1,128}$/, 'not an id'));
const TYPING = z.union([
  z.object({ channel: z.string().refine((c) => Boolean(parseChannel(c)), 'not a channel name') }),
  z.object({ conversationId: ID }),
  z.object({ chatId: ID }),
]);

/**
 * The channel of a `typing:start` / `typing:stop` payload, as apps send it: `{channel}` as is;
 * `{conversationId}` is `conversation:<id>`; `{chatId}` (the activities app) is the first
 * `<prefix>:<id>` the socket is subscribed to, prefixes in TYPING_CHAT_PREFIXES order
 * (`conversation`, then `activity`), else `<first prefix>:<id>` (refused as not subscribed).
 */
export function typingChannel(data: unknown, subscribed: ReadonlySet<string>, chatPrefixes: string[]): string {
  const target = parsePayload(TYPING, data, '{channel}, {conversationId} or {chatId}');
  if ('channel' in target) return target.channel;
  if ('conversationId' in target) return `conversation:${target.conversationId}`;
  const candidates = chatPrefixes.map((prefix) => `${prefix}:${target.chatId}`);
  return candidates.find((c) => subscribed.has(c)) ?? candidates[0];
}

/** Who types: a socket, or a user over REST. */
interface Sender {
  tenantId: string;
  userId: string;
  /** Whom the relay skips: the sending socket, or all of a REST caller's own sockets. */
  except: LiveOptions;
}

/** A sender typing in one or more channels. */
interface Typist extends Sender {
  /** Channel -> when typing:start was last relayed (throttle), and the timer that stops it after a silence. */
  channels: Map<string, { relayedAt: number; stopTimer: NodeJS.Timeout }>;
}

/**
 * All typing, from sockets and from `POST /conversations/:id/typing` alike: `typing:start` is
 * relayed at most every 2 s per typist and channel, `typing:stop` follows 5 s of silence, the
 * sender's own sockets are skipped, and both are live only (volatile, not logged, never replayed).
 * State is per pod: a REST caller whose requests alternate between pods may be relayed a little
 * more often.
 */
@Injectable()
export class TypingRelay implements OnApplicationShutdown {
  /** Socket id, or `rest|<tenant>|<user>` -> what it is typing in; entries exist only while typing. */
  private readonly typists = new Map<string, Typist>();

  constructor(private readonly realtime: RealtimeService) {}

  /** A socket's typing event, in a channel it is subscribed to. */
  fromSocket(ctx: SocketContext, channel: string, typing: boolean): { ok: true } {
    if (!ctx.channels.has(channel)) throw new DomainError('not_subscribed', `Subscribe to ${channel} first`);
    const { tenantId, userId } = ctx.user;
    if (typing) this.start(ctx.socketId, { tenantId, userId, except: { exceptSocketId: ctx.socketId } }, channel);
    else this.stop(ctx.socketId, channel);
    return { ok: true };
  }

  /** Typing over REST, by a user the caller has authorized for the channel. */
  fromUser(user: AuthUser, channel: string, typing: boolean): void {
    const { tenantId, userId } = user;
    const key = `rest|${tenantId}|${userId}`;
    const who = { tenantId, userId, except: { exceptChannels: [userChannel(userId)] } };
    if (typing) this.start(key, who, channel);
    // Relayed even when this pod did not see the start (the requests may go through different pods).
    else if (!this.stop(key, channel)) this.relay(who, channel, 'typing:stop');
  }

  /** The socket left the channel: whoever it was typing to hears it stop. */
  socketLeft(socketId: string, channel: string): void {
    this.stop(socketId, channel);
  }

  socketClosed(socketId: string): void {
    const typist = this.typists.get(socketId);
    for (const channel of [...(typist?.channels.keys() ?? [])]) this.stop(socketId, channel);
  }

  onApplicationShutdown(): void {
    for (const typist of this.typists.values()) for (const { stopTimer } of typist.channels.values()) clearTimeout(stopTimer);
    this.typists.clear();
  }

  private start(key: string, who: Sender, channel: string): void {
    const now = Date.now();
    let typist = this.typists.get(key);
    if (!typist) this.typists.set(key, (typist = { ...who, channels: new Map() }));
    const state = typist.channels.get(channel);
    if (state) clearTimeout(state.stopTimer);
    const stopTimer = setTimeout(() => this.stop(key, channel), TYPING_TIMEOUT_MS);
    stopTimer.unref();
    if (!state || now - state.relayedAt >= TYPING_THROTTLE_MS) {
      this.relay(typist, channel, 'typing:start');
      typist.channels.set(channel, { relayedAt: now, stopTimer });
    } else {
      typist.channels.set(channel, { relayedAt: state.relayedAt, stopTimer });
    }
  }

  /** Relays typing:stop if this pod relayed the start; false if it knew of none. */
  private stop(key: string, channel: string): boolean {
    const typist = this.typists.get(key);
    const state = typist?.channels.get(channel);
    if (!typist || !state) return false;
    clearTimeout(state.stopTimer);
    typist.channels.delete(channel);
    if (!typist.channels.size) this.typists.delete(key);
    this.relay(typist, channel, 'typing:stop');
    return true;
  }

  private relay(typist: Sender, channel: string, event: 'typing:start' | 'typing:stop'): void {
    this.realtime.emitLive(typist.tenantId, [channel], event, { channel, userId: typist.userId }, { ...typist.except, volatile: true });
  }
}
