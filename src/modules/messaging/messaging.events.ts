import type { MessageView } from './dto/messaging.dto';

/**
 * A participant's pointer moved to `upToSeq`: every message up to it is delivered (read) for them.
 * `messageId` is the message at `upToSeq`; `messageIds` the messages the request named, if it named any.
 */
export interface ReceiptEvent {
  conversationId: string;
  userId: string;
  upToSeq: number;
  messageId: string;
  messageIds?: string[];
}

/** The server events messaging publishes, added to realtime's event map (see ServerEvents there). */
declare module '../realtime/realtime.events' {
  interface ServerEvents {
    'message:new': MessageView;
    'message:updated': MessageView;
    'message:deleted': { id: string; conversationId: string; seq: number; deletedAt: string };
    'message:delivered': ReceiptEvent;
    'message:read': ReceiptEvent;
    'conversation:updated': {
      conversationId: string;
      change: 'created' | 'participants_added' | 'participant_left' | 'muted';
      userIds?: string[];
      mutedUntil?: string | null;
    };
  }
}
