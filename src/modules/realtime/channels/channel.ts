/**
 * Channel names as clients see them: `announcements`, `service:counts`, `conversation:<id>`,
 * `user:<id>`, `presence:<userId>`... A prefix (`conversation`) and an optional id. Inside Redis and
 * Socket.IO rooms every channel is prefixed by its tenant; clients never see that prefix.
 */
export interface Channel {
  /** The full name the client uses. */
  name: string;
  /** Text before the first colon (`conversation`), or the whole name when it has none. */
  prefix: string;
  /** Text after the first colon, or undefined. */
  id?: string;
}

const CHANNEL_PATTERN = /^([a-z][a-z0-9_-]{0,31})(?::([A-Za-z0-9_.@|-]{1,128}))?$/;

/** Parses a client-supplied channel name; undefined when it is not a well-formed name. */
export function parseChannel(name: unknown): Channel | undefined {
  if (typeof name !== 'string') return undefined;
  const match = CHANNEL_PATTERN.exec(name);
  if (!match) return undefined;
  return { name, prefix: match[1], id: match[2] };
}

/** The Socket.IO room of a channel within a tenant. `|` cannot occur in tenant ids or channels. */
export function roomOf(tenantId: string, channel: string): string {
  return `${tenantId}|${channel}`;
}

export function userChannel(userId: string): string {
  return `user:${userId}`;
}

export function presenceChannel(userId: string): string {
  return `presence:${userId}`;
}

/**
 * The channel behind a room id of the activities app's `room:join`: a channel name as is
 * (`activity:42`, `announcements`), or `<prefix>_<id>` (`activity_42`) as `<prefix>:<id>` when
 * `registered('<prefix>:')`; the longest such prefix wins, and a registered exact name
 * (`venue_updates`) wins over any.
 * Anything else is returned unchanged, for the policies to refuse.
 */
export function channelOfRoom(roomId: string, registered: (key: string) => boolean): string {
  const parsed = parseChannel(roomId);
  if (!parsed || parsed.id !== undefined || registered(roomId)) return roomId;
  for (let i = roomId.lastIndexOf('_'); i > 0; i = roomId.lastIndexOf('_', i - 1)) {
    const prefix = roomId.slice(0, i);
    if (i < roomId.length - 1 && registered(`${prefix}:`)) return `${prefix}:${roomId.slice(i + 1)}`;
  }
  return roomId;
}
