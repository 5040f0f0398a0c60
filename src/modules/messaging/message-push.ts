import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { type NotifyInput, UnreadCounters } from '../notifications';
import { ProfilesService } from '../profiles';
import type { MessageView } from './dto/messaging.dto';
import { PREVIEW_LENGTH } from './messaging.constants';

/** The body of a message push when previews are hidden (MESSAGE_PUSH_PREVIEW=hidden), its title with `none`. */
export const HIDDEN_PREVIEW = 'New message';

export type MessagePreview = 'text' | 'hidden' | 'none';

/**
 * What a message push says (MESSAGE_PUSH_PREVIEW):
 * - `text`: the sender's display name as its title, the text (at most PREVIEW_LENGTH characters) as its body;
 * - `hidden`: the name, and a neutral "New message" as its body;
 * - `none`: "New message" alone, and no sender id in the data either.
 * The data names the message but never holds its text, so a hidden preview leaves none anywhere in the push.
 */
export function messagePush(
  message: MessageView,
  senderName: string,
  preview: MessagePreview,
): Pick<NotifyInput, 'title' | 'body' | 'data'> {
  const data: Record<string, string> = {
    type: 'message',
    conversationId: message.conversationId,
    messageId: message.id,
    seq: String(message.seq),
  };
  if (preview === 'none') return { title: HIDDEN_PREVIEW, data };
  const content = message.content ?? '';
  return {
    title: [...senderName].slice(0, 200).join(''),
    body: preview === 'hidden' ? HIDDEN_PREVIEW : content.length > PREVIEW_LENGTH ? `${content.slice(0, PREVIEW_LENGTH - 1)}…` : content,
    data: { ...data, senderId: message.senderId },
  };
}

/**
 * Message pushes as people recognise them: names the sender (ProfilesService's order: host,
 * token name, member, user id) and counts each recipient's unread messages into the iOS badge
 * (UnreadCounters: the inbox entries of category `message` are left out of it, since every message
 * push leaves one).
 */
@Injectable()
export class MessagePush implements OnModuleInit {
  constructor(
    private readonly profiles: ProfilesService,
    private readonly unread: UnreadCounters,
    private readonly config: AppConfig,
    @InjectDataSource() private readonly ds: DataSource,
  ) {}

  onModuleInit(): void {
    this.unread.register({ covers: 'message', count: (tenantId, userIds) => this.unreadMessages(tenantId, userIds) });
  }

  async build(tenantId: string, message: MessageView): Promise<Pick<NotifyInput, 'title' | 'body' | 'data'>> {
    const preview = this.config.push.messagePreview;
    const name = preview === 'none' ? '' : await this.profiles.displayName(tenantId, message.senderId);
    return messagePush(message, name, preview);
  }

  /** Unread messages per user across the conversations they take part in (what `unreadCount` adds up to). */
  private async unreadMessages(tenantId: string, userIds: string[]): Promise<Map<string, number>> {
    const rows: { userId: string; count: number }[] = await this.ds.query(
      `SELECT p.user_id AS "userId", sum(greatest(c.last_seq - p.last_read_seq, 0))::int AS count
         FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
        WHERE p.tenant_id = $1 AND p.user_id = ANY($2::varchar[]) AND p.left_at IS NULL
        GROUP BY p.user_id`,
      [tenantId, userIds],
    );
    return new Map(rows.map((r) => [r.userId, r.count]));
  }
}
