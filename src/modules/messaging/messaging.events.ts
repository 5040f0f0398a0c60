import type { MessageView } from './dto/messaging.dto';

/** The server events messaging publishes, added to realtime's event map (see ServerEvents there). */
declare module '../realtime/realtime.events' {
  interface ServerEvents {
    'message:new': MessageView;
    'message:updated': MessageView;
    'message:deleted': { id: string; conversationId: string; seq: number; deletedAt: string };
    'message:delivered': { conversationId: string; userId: string; upToSeq: number };
    'message:read': { conversationId: string; userId: string; upToSeq: number };
    'conversation:updated': {
      conversationId: string;
      change: 'created' | 'participants_added' | 'participant_left' | 'muted';
      userIds?: string[];
      mutedUntil?: string | null;
    };
  }
}
