/**
 * Every server-to-client event and its payload: emits are typed against this map so an event
 * name is never a loose string. Each is emitted as `(payload, meta)`, meta = {channel, offset}.
 */
export interface ServerEvents {
  'service:count_update': { serviceId: string; totalCheckins: number; currentAttendance: number; timestamp: string };
  'announcement:new': { id: string; title: string; content: string; priority: string; createdAt: string };
  'presence:update': { userId: string; status: 'online' | 'offline'; lastSeen: string | null };
  'user:online': { userId: string };
  'user:offline': { userId: string; lastSeen: string };
  'notification:new': {
    id: string;
    title: string | null;
    body: string | null;
    category: string;
    data: Record<string, string>;
    createdAt: string;
  };
  'message:new': MessagePayload;
  'message:updated': MessagePayload;
  'message:deleted': { id: string; conversationId: string; seq: number; deletedAt: string };
  'message:delivered': { conversationId: string; userId: string; upToSeq: number };
  'message:read': { conversationId: string; userId: string; upToSeq: number };
  'conversation:updated': {
    conversationId: string;
    change: 'created' | 'participants_added' | 'participant_left' | 'muted';
    userIds?: string[];
    mutedUntil?: string | null;
  };
  'typing:start': { channel: string; userId: string };
  'typing:stop': { channel: string; userId: string };
}

/** A message as clients see it (messaging's REST answers use the same shape). */
export interface MessagePayload {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string;
  clientMessageId: string;
  kind: string;
  /** null once deleted (a tombstone keeps its place in the sequence). */
  content: string | null;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
}

export type ServerEventName = keyof ServerEvents;

/** Events a socket receives outside channels: its own session, and token lifecycle. */
export interface SessionEvents {
  session: { userId: string; tenantId: string; roles: string[]; expiresAt: string; pingIntervalMs: number };
  'auth:expiring': { expiresAt: string; code: 'token_expiring' };
  'auth:expired': { code: 'token_expired'; message: string };
}

/** Second argument of every channel event. `offset` is opaque: send it back in `since`. */
export interface EventMeta {
  channel: string;
  offset: string;
}

/** Event names other backends may publish through POST /admin/broadcast (colon style). */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_]*(?::[a-z0-9_]+){0,3}$/;
