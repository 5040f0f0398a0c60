import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { z } from 'zod';
import type { AuthUser } from '../../core/auth/auth-user';
import { DomainError } from '../../core/http/domain-error';
import { parseChannel, userChannel } from './channels/channel';
import { parsePayload, SocketContext } from './client-event.registry';
import { LiveOptions, RealtimeService } from './realtime.service';

const TYPING_THROTTLE_MS = 2000;
const TYPING_TIMEOUT_MS = 5000;
/** How long a channel's audience is reused: one lookup serves a typist's start, its repeats and its stop. */
const AUDIENCE_TTL_MS = 5000;
const AUDIENCE_CACHE_MAX = 10_000;

/**
 * The users who show a channel's typing outside it (a conversation's participants, in their
 * conversation lists): they get it in their `user:<id>` rooms too. Registered by the module that
 * owns the channel prefix.
 */
export type TypingAudience = (tenantId: string, channel: string) => Promise<string[]>;

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
 * more often. For a prefix with an audience (see `audience`), the users of the audience other
 * than the typist get it in their user rooms as well, except the sockets that have the channel open
 * (they get it once, on the channel). The audience is looked up at most every 5 s per channel and
 * pod, so a user who just left may see typing for that long.
 */
@Injectable()
export class TypingRelay implements OnApplicationShutdown {
  /** Socket id, or `rest|<tenant>|<user>` -> what it is typing in; entries exist only while typing. */
  private readonly typists = new Map<string, Typist>();
  /** Channel prefix (`conversation:`) -> who shows its typing outside the channel. */
  private readonly audiences = new Map<string, TypingAudience>();
  /** `<tenant>|<channel>` -> its audience, looked up at `at`; one promise keeps start and stop in order. */
  private readonly audienceCache = new Map<string, { at: number; users: Promise<string[]> }>();
  private readonly logger = new Logger(TypingRelay.name);

  constructor(private readonly realtime: RealtimeService) {}

  /** Typing in channels with this prefix also reaches these users' own rooms. */
  audience(prefix: string, resolve: TypingAudience): void {
    this.audiences.set(prefix, resolve);
  }

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
    this.audienceCache.clear();
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
    const { tenantId, userId } = typist;
    const payload = { channel, userId };
    this.realtime.emitLive(tenantId, [channel], event, payload, { ...typist.except, volatile: true });
    this.audienceOf(tenantId, channel)?.then(
      (users) => {
        // Never to the typist; never twice to a socket that has the channel open.
        const rooms = users.filter((u) => u !== userId).map(userChannel);
        if (rooms.length) this.realtime.emitLive(tenantId, rooms, event, payload, { exceptChannels: [channel], volatile: true });
      },
      (err: Error) => this.logger.warn(`typing audience of ${channel} unavailable: ${err.message}`),
    );
  }

  private audienceOf(tenantId: string, channel: string): Promise<string[]> | undefined {
    const resolve = [...this.audiences].find(([prefix]) => channel.startsWith(prefix))?.[1];
    if (!resolve) return undefined;
    const key = `${tenantId}|${channel}`;
    const now = Date.now();
    const cached = this.audienceCache.get(key);
    if (cached && now - cached.at < AUDIENCE_TTL_MS) return cached.users;
    if (this.audienceCache.size >= AUDIENCE_CACHE_MAX) {
      for (const [k, v] of this.audienceCache) if (now - v.at >= AUDIENCE_TTL_MS) this.audienceCache.delete(k);
      if (this.audienceCache.size >= AUDIENCE_CACHE_MAX) this.audienceCache.clear();
    }
    const users = resolve(tenantId, channel);
    // A failed lookup is not kept: the next event asks again.
    users.catch(() => this.audienceCache.delete(key));
    this.audienceCache.set(key, { at: now, users });
    return users;
  }
}
