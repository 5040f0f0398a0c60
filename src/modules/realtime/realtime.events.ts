import type { Namespace, Socket } from 'socket.io';
import type { SocketSession } from './socket-session';

/**
 * Every server-to-client channel event and its payload: emits are typed against this map so an
 * event name is never a loose string. Realtime declares only its own (presence, typing); each
 * domain adds its events beside its code by declaration merging, so realtime knows none of them:
 *
 *   declare module '../realtime/realtime.events' {
 *     interface ServerEvents { 'message:new': MessageView }
 *   }
 *
 * (see messaging.events.ts, community.events.ts, notifications.events.ts).
 */
export interface ServerEvents {
  'presence:update': { userId: string; status: 'online' | 'offline'; lastSeen: string | null };
  'user:online': { userId: string };
  'user:offline': { userId: string; lastSeen: string };
  /** Presence channels: a user's first socket joined the channel, or their last one left it. */
  'member:joined': { channel: string; userId: string };
  'member:left': { channel: string; userId: string };
  'typing:start': { channel: string; userId: string };
  'typing:stop': { channel: string; userId: string };
}

export type ServerEventName = keyof ServerEvents;

/**
 * An event name that is not in ServerEvents: the server API's broadcasts, whose names come from
 * other backends. Branded so that a typo in a Tether event name cannot fall back to it.
 */
export type ExternalEventName = string & { readonly __brand: 'ExternalEventName' };

/** Event names other backends may publish through POST /admin/broadcast (colon style). */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_]*(?::[a-z0-9_]+){0,3}$/;

export function externalEvent(name: string): ExternalEventName {
  if (!EVENT_NAME_PATTERN.test(name)) throw new Error(`"${name}" is not an event name`);
  return name as ExternalEventName;
}

/** Events a socket receives outside channels: its own session, and token lifecycle. */
export interface SessionEvents {
  /** `channels`: those the socket was put in at connect (AUTO_JOIN_CHANNELS), besides its own `user:<id>`. */
  session: { userId: string; tenantId: string; roles: string[]; expiresAt: string; pingIntervalMs: number; channels: string[] };
  'auth:expiring': { expiresAt: string; code: 'token_expiring' };
  'auth:expired': { code: 'token_expired'; message: string };
}

/**
 * Second argument of every channel event. `offset` is opaque: send it back in `since`. Events
 * that are live only (not logged, so not recoverable) carry the channel alone.
 */
export interface EventMeta {
  channel: string;
  offset?: string;
  /** On events their recipients acknowledge (`delivery:ack`): see DeliveryIds. */
  deliveryId?: string;
}

/** What the server emits, for Socket.IO's generics: `socket.emit('session', ...)` is checked like a publish. */
export type ServerToClientEvents = { [E in ServerEventName]: (payload: ServerEvents[E], meta: EventMeta) => void } & {
  [E in keyof SessionEvents]: (payload: SessionEvents[E]) => void;
};

/**
 * Client events arrive by name through one middleware and the ClientEventRegistry, which checks
 * each payload itself; no listener is registered per event, so this map stays open.
 */
export type ClientToServerEvents = Record<string, (data: unknown, ack?: (response: unknown) => void) => void>;

/** Pods reach each other through the adapter's rooms only (no serverSideEmit). */
export type InterServerEvents = Record<string, never>;

export type RealtimeNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketSession>;
export type RealtimeSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketSession>;

/**
 * Socket.IO's emit without the event map, for emits whose name is data (a replay from the log,
 * an external event) or generic (RealtimeService's verbs, whose own signatures check the pair).
 */
export function untyped(target: object): { emit(event: string, payload: unknown, meta: EventMeta): boolean } {
  return target as { emit(event: string, payload: unknown, meta: EventMeta): boolean };
}
