import { Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { randomUUID } from 'node:crypto';
import type { AuthUser } from '../../core/auth/auth-user';
import { DomainError, ForbiddenError, invalidField, NotFoundError } from '../../core/http/domain-error';
import { channelKey, OutboxService, type PublishPath, type RecordedRow } from '../../core/outbox';
import { type Acknowledgement, DeliveryService, type FallbackWork, type RecipientDelivery } from '../delivery';
import { NotificationsService } from '../notifications';
import {
  type Channel,
  type PolicyDecision,
  type RealtimeEventPayload,
  realtimeEvent,
  RealtimeService,
  TypingRelay,
  userChannel,
} from '../realtime';
import {
  AddParticipantsDto,
  ConversationPage,
  ConversationView,
  CreateConversationDto,
  EditMessageDto,
  ListConversationsQuery,
  MessagePage,
  MessagesQuery,
  MessageView,
  ReadStateView,
  SendMessageDto,
  SocketSendDto,
  StatusDto,
} from './dto/messaging.dto';
import { MessagePush } from './message-push';
import { conversationChannel, DEFAULT_PAGE } from './messaging.constants';
import { wellFormedSend } from './socket-send';
import { MembershipRow, MessageRow, MessagingRepository } from './messaging.repository';
import { isUuid } from '../../core/http/validators';

/** Outbox kind of a new message: its `message:new` and then its push check (MessagingModule registers publishMessage). */
export const MESSAGE_NEW = 'messaging.message';

/** Payload of a MESSAGE_NEW outbox row: a realtime event, plus the unmuted recipients to push to if offline. */
type MessageNewPayload = RealtimeEventPayload & { data: MessageView; push: string[] };

export interface SendOutcome {
  message: MessageView;
  /** True when this clientMessageId was already stored: nothing was sent again. */
  duplicate: boolean;
}

/**
 * Conversations, messages and read state. Only active participants see a conversation; anyone
 * else gets 404 `conversation_not_found`, never 403, so ids do not leak. Every event and push is
 * recorded in the outbox with the change that causes it and goes out after the commit (at once, or
 * through the relay when Redis is away); pushes go to recipients who are neither muted nor connected
 * on any pod when the push is published. Typing and the conversation-created hint are live only.
 */
@Injectable()
export class MessagingService {
  constructor(
    private readonly repo: MessagingRepository,
    private readonly realtime: RealtimeService,
    private readonly delivery: DeliveryService,
    private readonly notifications: NotificationsService,
    private readonly typingRelay: TypingRelay,
    private readonly outbox: OutboxService,
    private readonly messagePush: MessagePush,
  ) {}

  // ---- conversations -----------------------------------------------------------------------

  async create(user: AuthUser, dto: CreateConversationDto): Promise<{ conversation: ConversationView; created: boolean }> {
    const others = [...new Set(dto.participantIds)].filter((u) => u !== user.userId);
    let id: string;
    let created: boolean;
    if (dto.type === 'direct') {
      if (others.length !== 1) throw invalidField('participantIds', 'a direct conversation has exactly one other participant');
      if (dto.title !== undefined) throw invalidField('title', 'only groups have a title');
      ({ id, created } = await this.repo.createDirect(user.tenantId, randomUUID(), user.userId, others[0]));
    } else {
      if (!others.length) throw invalidField('participantIds', 'a group needs at least one other participant');
      id = randomUUID();
      created = true;
      await this.repo.createGroup(user.tenantId, id, user.userId, dto.title?.trim() || null, [user.userId, ...others]);
    }
    const conversation = await this.get(user, id);
    if (created) {
      this.realtime.emitLive(user.tenantId, conversation.participantIds.map(userChannel), 'conversation:updated', {
        conversationId: id,
        change: 'created',
        userIds: conversation.participantIds,
      });
    }
    return { conversation, created };
  }

  async list(user: AuthUser, query: ListConversationsQuery): Promise<ConversationPage> {
    const limit = query.limit ?? 20;
    const cursor = query.cursor
      ? {
          activityUs: query.cursor.split('_')[0],
          id: query.cursor.split('_')[1],
        }
      : undefined;
    const rows = await this.repo.list(user.tenantId, user.userId, cursor, limit + 1);
    const page = rows.slice(0, limit);
    const hasMore = rows.length > limit;
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        ...conversationView(r),
        participantIds: r.participantIds ?? [],
        lastMessage: r.lastMessage ? messageView(r.lastMessage) : null,
      })),
      nextCursor: hasMore ? `${last.activityUs}_${last.id}` : null,
      hasMore,
    };
  }

  async get(user: AuthUser, conversationId: string): Promise<ConversationView> {
    const membership = await this.member(user, conversationId);
    const participants = await this.repo.activeParticipants(conversationId);
    const [lastMessage] = membership.lastSeq
      ? await this.repo.messages(conversationId, {
          after: membership.lastSeq - 1,
          limit: 1,
        })
      : [];
    return {
      ...conversationView(membership),
      participantIds: participants.map((p) => p.userId).sort(),
      lastMessage: lastMessage ? messageView(lastMessage) : null,
      participants: participants.map((p) => ({
        userId: p.userId,
        role: p.role,
        joinedAt: new Date(p.joinedAt).toISOString(),
        lastDeliveredSeq: p.lastDeliveredSeq,
        lastReadSeq: p.lastReadSeq,
      })),
    };
  }

  async addParticipants(user: AuthUser, conversationId: string, dto: AddParticipantsDto): Promise<ConversationView> {
    const membership = await this.member(user, conversationId);
    if (membership.type !== 'group') throw new DomainError('not_a_group', 'Participants can only be added to a group', 400);
    if (membership.role !== 'admin') throw new ForbiddenError('not_conversation_admin', 'Only group admins can add participants');
    await this.outbox.transaction(async (tx) => {
      const added = await this.repo.addParticipants(user.tenantId, conversationId, [...new Set(dto.userIds)], tx.em);
      if (!added.length) return;
      const event = { conversationId, change: 'participants_added' as const, userIds: added };
      // The new participants are not in the channel yet: they hear it in their user rooms.
      await tx.record([
        realtimeEvent(user.tenantId, conversationChannel(conversationId), 'conversation:updated', event, {
          channels: added.map(userChannel),
        }),
      ]);
    });
    return this.get(user, conversationId);
  }

  /**
   * A participant leaves (themself), or a group admin removes someone. The conversation is hidden
   * for them, history kept; their sockets leave the channel on every pod at once.
   */
  async removeParticipant(user: AuthUser, conversationId: string, userId: string): Promise<void> {
    const membership = await this.member(user, conversationId);
    if (userId !== user.userId) {
      if (membership.type !== 'group' || membership.role !== 'admin')
        throw new ForbiddenError('not_conversation_admin', 'Only group admins can remove other participants');
    }
    const channel = conversationChannel(conversationId);
    await this.outbox.transaction(async (tx) => {
      if (!(await this.repo.leave(user.tenantId, conversationId, userId, tx.em)))
        throw new NotFoundError('participant_not_found', 'That user is not a participant');
      const event = { conversationId, change: 'participant_left' as const, userIds: [userId] };
      await tx.record([realtimeEvent(user.tenantId, channel, 'conversation:updated', event, { channels: [userChannel(userId)] })]);
      // Out of the channel on every pod before the event goes out on it (they hear it in their user room).
      await this.realtime.removeFromChannel(user.tenantId, userId, channel);
    });
  }

  async mute(user: AuthUser, conversationId: string, until: string | null): Promise<ConversationView> {
    await this.member(user, conversationId);
    const at = until === null ? null : new Date(until);
    await this.outbox.transaction(async (tx) => {
      await this.repo.setMute(user.tenantId, conversationId, user.userId, at, tx.em);
      await tx.record([
        realtimeEvent(user.tenantId, userChannel(user.userId), 'conversation:updated', {
          conversationId,
          change: 'muted',
          mutedUntil: at?.toISOString() ?? null,
        }),
      ]);
    });
    return this.get(user, conversationId);
  }

  // ---- messages ----------------------------------------------------------------------------

  async messages(user: AuthUser, conversationId: string, query: MessagesQuery): Promise<MessagePage> {
    const membership = await this.member(user, conversationId);
    if (query.before !== undefined && query.after !== undefined) throw invalidField('before', 'give before or after, not both');
    const limit = query.limit ?? DEFAULT_PAGE;
    const rows = await this.repo.messages(conversationId, {
      before: query.before,
      after: query.after,
      limit: limit + 1,
    });
    // One more than asked tells whether there is more in that direction.
    const hasMore = rows.length > limit;
    const page = query.after !== undefined ? rows.slice(0, limit) : rows.slice(rows.length - limit);
    const others = (await this.repo.activeParticipants(conversationId)).filter((p) => p.userId !== user.userId);
    const delivered = others.length ? Math.min(...others.map((p) => p.lastDeliveredSeq)) : membership.lastSeq;
    const read = others.length ? Math.min(...others.map((p) => p.lastReadSeq)) : membership.lastSeq;
    return {
      messages: page.map((m) => {
        const view = messageView(m);
        if (m.senderId === user.userId) view.status = m.seq <= read ? 'read' : m.seq <= delivered ? 'delivered' : 'sent';
        return view;
      }),
      hasMore,
      lastSeq: membership.lastSeq,
      deliveredUpToSeq: delivered,
      readUpToSeq: read,
    };
  }

  async send(user: AuthUser, conversationId: string, dto: SendMessageDto): Promise<SendOutcome> {
    if (!isUuid(conversationId)) throw notFound();
    const clientMessageId = dto.clientMessageId ?? randomUUID();
    const channel = conversationChannel(conversationId);
    const message = { id: randomUUID(), clientMessageId, kind: dto.kind ?? 'text', content: dto.content };
    const { result, duplicate } = await this.repo.send(user.tenantId, conversationId, user.userId, message, {
      channel,
      channelKey: channelKey(user.tenantId, channel),
      userChannelPrefix: userChannel(''),
      kind: MESSAGE_NEW,
    });
    if (duplicate) {
      if (duplicate.conversationId !== conversationId)
        throw new DomainError('client_message_id_conflict', 'This clientMessageId was used for another conversation', 409);
      return { message: messageView(duplicate), duplicate: true };
    }
    if (!result) throw notFound();
    // Recorded by the same statement: `message:new` on the channel, then live copies to each
    // participant's user room, so conversation lists update without subscribing to every
    // conversation (they reload over REST after a reconnect; sockets that have the conversation
    // open get it once, on its channel); then the push check for the unmuted recipients.
    await this.outbox.publish(result.outbox);
    return { message: result.message, duplicate: false };
  }

  /** `message:send` over the socket: the same validation and idempotency as POST. */
  async sendFromSocket(user: AuthUser, data: unknown): Promise<SendOutcome> {
    if (typeof data !== 'object' || data === null || Array.isArray(data))
      throw new DomainError('invalid_payload', 'message:send needs {conversationId, clientMessageId, content}');
    const plain = wellFormedSend(data);
    if (plain) {
      const { conversationId, ...message } = plain;
      return this.send(user, conversationId, message);
    }
    const dto = plainToInstance(SocketSendDto, data);
    const errors = await validate(dto, {
      whitelist: true,
      forbidNonWhitelisted: true,
    });
    if (errors.length)
      throw new DomainError(
        'invalid_payload',
        errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; ') || 'invalid message:send payload',
      );
    const { conversationId, ...message } = dto;
    return this.send(user, conversationId, message);
  }

  async edit(user: AuthUser, conversationId: string, messageId: string, dto: EditMessageDto): Promise<MessageView> {
    await this.ownMessage(user, conversationId, messageId);
    return this.outbox.transaction(async (tx) => {
      const row = await this.repo.edit(conversationId, messageId, dto.content, tx.em);
      if (!row) throw new DomainError('message_deleted', 'A deleted message cannot be edited', 409);
      const view = messageView(row);
      await tx.record([realtimeEvent(user.tenantId, conversationChannel(conversationId), 'message:updated', view)]);
      return view;
    });
  }

  async remove(user: AuthUser, conversationId: string, messageId: string): Promise<MessageView> {
    const existing = await this.ownMessage(user, conversationId, messageId);
    return this.outbox.transaction(async (tx) => {
      const row = await this.repo.tombstone(conversationId, messageId, tx.em);
      if (!row) return messageView(existing); // already a tombstone: deleting again changes nothing
      await tx.record([
        realtimeEvent(user.tenantId, conversationChannel(conversationId), 'message:deleted', {
          id: row.id,
          conversationId,
          seq: row.seq,
          deletedAt: new Date(row.deletedAt!).toISOString(),
        }),
      ]);
      return messageView(row);
    });
  }

  // ---- read state, typing ------------------------------------------------------------------

  /**
   * Moves the caller's delivered or read pointer: to `upToSeq`, or to the highest seq among the
   * messages named (`messageId`, `messageIds`; any not in this conversation is 404
   * `message_not_found` and moves nothing). The event goes to the conversation channel and, live,
   * to every participant's user room (not to sockets that have the conversation open: they get it
   * there), so conversation lists show the ticks.
   */
  async status(user: AuthUser, conversationId: string, dto: StatusDto): Promise<ReadStateView> {
    await this.member(user, conversationId);
    const given = [dto.upToSeq, dto.messageId, dto.messageIds].filter((v) => v !== undefined).length;
    if (given !== 1) throw invalidField('upToSeq', 'give exactly one of upToSeq, messageId or messageIds');
    const named = dto.messageIds ? [...new Set(dto.messageIds)] : dto.messageId !== undefined ? [dto.messageId] : undefined;
    const upToSeq = named ? await this.seqOf(conversationId, named) : dto.upToSeq!;
    const state = await this.movePointer(user.tenantId, user.userId, conversationId, dto.status, upToSeq, named);
    if (!state) throw notFound();
    if (dto.status === 'read' && state.moved) await this.dismissPushes(user.tenantId, user.userId, conversationId, state.lastReadSeq);
    return {
      conversationId,
      lastDeliveredSeq: state.lastDeliveredSeq,
      lastReadSeq: state.lastReadSeq,
      unreadCount: Math.max(0, state.lastSeq - state.lastReadSeq),
    };
  }

  /** Moves a participant's delivered or read pointer and records `message:delivered`/`message:read` with it. */
  private movePointer(
    tenantId: string,
    userId: string,
    conversationId: string,
    status: 'delivered' | 'read',
    upToSeq: number,
    named?: string[],
  ) {
    const channel = conversationChannel(conversationId);
    return this.outbox.transaction(async (tx) => {
      const moved = await this.repo.advance(conversationId, userId, status, upToSeq, tx.em);
      if (moved?.moved) {
        const payload = {
          conversationId,
          userId,
          upToSeq: status === 'read' ? moved.lastReadSeq : moved.lastDeliveredSeq,
          messageId: moved.messageId!,
          ...(named ? { messageIds: named } : {}),
        };
        const live = { channels: (moved.participantIds ?? []).map(userChannel), exceptChannels: [channel] };
        const event = status === 'read' ? 'message:read' : 'message:delivered';
        await tx.record([realtimeEvent(tenantId, channel, event, payload, live)]);
      }
      return moved;
    });
  }

  /**
   * A read on one device of something already pushed: the user's devices get a silent
   * `tether.dismiss` push so the apps can remove the shown notification (README "Delivery").
   */
  private async dismissPushes(tenantId: string, userId: string, conversationId: string, upToSeq: number): Promise<void> {
    if (!(await this.delivery.dismissable(tenantId, userId, { conversationId, upToSeq }))) return;
    await this.notifications.dismiss(tenantId, userId, {
      conversationId,
      upToSeq: String(upToSeq),
      collapseKey: collapseKeyOf(conversationId),
    });
  }

  /**
   * Acknowledged `message:new` deliveries (any pod, batched): a device of the recipient has the
   * message, so their delivered pointer moves to it (`message:delivered` follows). The sender's
   * own sockets acknowledge too; their pointer is already there.
   */
  async acknowledged(tenantId: string, acks: Acknowledgement[]): Promise<void> {
    const places = new Map((await this.repo.placesOf([...new Set(acks.map((a) => a.subjectId))])).map((p) => [p.id, p]));
    const targets = new Map<string, { userId: string; conversationId: string; seq: number }>();
    for (const a of acks) {
      const place = places.get(a.subjectId);
      if (!place || place.senderId === a.userId) continue;
      const key = `${a.userId}\u0000${place.conversationId}`;
      const seen = targets.get(key);
      if (!seen || seen.seq < place.seq) targets.set(key, { userId: a.userId, conversationId: place.conversationId, seq: place.seq });
    }
    if (!targets.size) return;
    // One transaction for the whole batch: the pointers, and a `message:delivered` per moved one.
    await this.outbox.transaction(async (tx) => {
      const moved = await this.repo.advanceDelivered([...targets.values()], tx.em);
      await tx.record(
        moved.map((m) => {
          const channel = conversationChannel(m.conversationId);
          const payload = { conversationId: m.conversationId, userId: m.userId, upToSeq: m.upToSeq, messageId: m.messageId };
          return realtimeEvent(tenantId, channel, 'message:delivered', payload, {
            channels: m.participantIds.map(userChannel),
            exceptChannels: [channel],
          });
        }),
      );
    });
  }

  /**
   * No device of these recipients acknowledged the message in time (a frozen background app, a
   * dead link): push it, unless they have it by now (their delivered pointer reached it, e.g. the
   * manual status call) or it was deleted.
   */
  async pushFallback(work: FallbackWork): Promise<void> {
    const conversationId = work.context.conversationId;
    const row = await this.repo.message(conversationId, work.subjectId);
    if (!row || row.deletedAt) return;
    const behind = new Set(
      (await this.repo.activeParticipants(conversationId)).filter((p) => p.lastDeliveredSeq < row.seq).map((p) => p.userId),
    );
    await this.pushMessage(
      work.tenantId,
      messageView(row),
      work.userIds.filter((u) => behind.has(u)),
      'fallback',
    );
  }

  /** Per recipient and device, what became of a message: for its sender (or SERVICE/ADMIN). */
  async deliveries(user: AuthUser, conversationId: string, messageId: string): Promise<RecipientDelivery[]> {
    await this.member(user, conversationId);
    const message = isUuid(messageId) ? await this.repo.message(conversationId, messageId) : undefined;
    if (!message) throw new NotFoundError('message_not_found', 'No such message in this conversation');
    const privileged = user.roles.includes('SERVICE') || user.roles.includes('ADMIN');
    if (message.senderId !== user.userId && !privileged)
      throw new ForbiddenError('not_message_sender', "Only the sender sees a message's deliveries");
    const recipients = (await this.repo.activeParticipants(conversationId)).map((p) => p.userId).filter((u) => u !== message.senderId);
    return this.delivery.view(user.tenantId, messageId, recipients);
  }

  /** The highest seq among these messages of the conversation; 404 if any is not one of them. */
  private async seqOf(conversationId: string, messageIds: string[]): Promise<number> {
    const unknown = () => new NotFoundError('message_not_found', 'No such message in this conversation');
    if (!messageIds.every(isUuid)) throw unknown();
    const { found, maxSeq } = await this.repo.seqOfMessages(conversationId, messageIds);
    if (found !== messageIds.length || maxSeq === null) throw unknown();
    return maxSeq;
  }

  /** Who shows a conversation's typing in their conversation list (TypingRelay's audience). */
  async typingAudience(tenantId: string, channel: string): Promise<string[]> {
    const id = channel.slice(conversationChannel('').length);
    return isUuid(id) ? this.repo.activeParticipantIds(tenantId, id) : [];
  }

  /** Everything up to the newest message is read. */
  async markAllRead(user: AuthUser, conversationId: string): Promise<ReadStateView> {
    return this.status(user, conversationId, {
      status: 'read',
      upToSeq: 2 ** 31 - 1,
    });
  }

  async typing(user: AuthUser, conversationId: string, isTyping: boolean): Promise<void> {
    await this.member(user, conversationId);
    this.typingRelay.fromUser(user, conversationChannel(conversationId), isTyping);
  }

  /** Channel policy for `conversation:<id>`: active participants only. */
  async authorizeChannel(user: AuthUser, channel: Channel): Promise<PolicyDecision> {
    if (!channel.id || !isUuid(channel.id)) return { reason: 'forbidden' };
    return (await this.repo.membership(user.tenantId, channel.id, user.userId)) ? true : { reason: 'forbidden' };
  }

  // ---- helpers -----------------------------------------------------------------------------

  private async member(user: AuthUser, conversationId: string): Promise<MembershipRow> {
    if (!isUuid(conversationId)) throw notFound();
    const membership = await this.repo.membership(user.tenantId, conversationId, user.userId);
    if (!membership) throw notFound();
    return membership;
  }

  private async ownMessage(user: AuthUser, conversationId: string, messageId: string): Promise<MessageRow> {
    await this.member(user, conversationId);
    const message = isUuid(messageId) ? await this.repo.message(conversationId, messageId) : undefined;
    if (!message) throw new NotFoundError('message_not_found', 'No such message in this conversation');
    if (message.senderId !== user.userId) throw new ForbiddenError('not_message_sender', 'Only the sender can change a message');
    return message;
  }

  /**
   * Publishes a MESSAGE_NEW outbox row: `message:new` through realtime (once, in the channel's
   * order), then one notify() for the recipients who have no live socket on any pod now. The sender
   * is named by display name (MessagePush). The idempotency key is the message id, so a row
   * published twice (the event then counts as a duplicate, the push is asked for again), or a
   * resend, never pushes twice.
   */
  async publishMessage(row: RecordedRow, path: PublishPath): Promise<'done' | 'gap'> {
    const { data: message, push } = row.payload as MessageNewPayload;
    // Who is reachable is asked together with the log append (the same tick on the same Redis
    // connection: one write and one round trip for both), not after it; wasted only on a gap.
    const reachable = push.length ? this.delivery.audience(row.tenantId, push) : undefined;
    reachable?.catch(() => undefined); // awaited below, unless the append found a gap
    if ((await this.realtime.publishRecorded(row, path)) === 'gap') return 'gap';
    if (!reachable) return 'done';
    // Offline: pushed now. Acknowledging sockets: pushed only if none of their devices confirms in
    // time. Only sockets that do not acknowledge: not pushed (they show it).
    const audience = await reachable;
    await this.delivery.waitFor({
      tenantId: row.tenantId,
      kind: 'message',
      subjectId: message.id,
      userIds: audience.acknowledging,
      context: { conversationId: message.conversationId },
      committedAt: Date.parse(message.createdAt),
    });
    await this.pushMessage(row.tenantId, message, audience.offline, 'direct');
    return 'done';
  }

  /**
   * One notify() for these recipients. The idempotency key is the message id (and the path), so a
   * row published twice, or a fallback handled twice, never pushes twice.
   */
  private async pushMessage(tenantId: string, message: MessageView, userIds: string[], path: 'direct' | 'fallback'): Promise<void> {
    if (!userIds.length) return;
    await this.notifications.notify({
      tenantId,
      recipients: { userIds },
      category: 'message',
      priority: 'high',
      // The sender's display name, the text or "New message" (MESSAGE_PUSH_PREVIEW); the badge is
      // counted per recipient at fan-out (message-push.ts).
      ...(await this.messagePush.build(tenantId, message)),
      collapseKey: collapseKeyOf(message.conversationId),
      idempotencyKey: path === 'direct' ? `message:${message.id}` : `message:${message.id}:fallback`,
      // The rule was applied here (offline, or no acknowledgement in time): no second wait.
      immediate: true,
    });
    this.delivery.countPushes('message', path, userIds.length);
    await this.delivery.rememberPush(tenantId, userIds, { conversationId: message.conversationId, seq: message.seq });
  }
}

/** Message pushes of a conversation replace each other (and a dismissal names them by it). */
function collapseKeyOf(conversationId: string): string {
  return `conversation-${conversationId}`;
}

function notFound(): NotFoundError {
  return new NotFoundError('conversation_not_found', 'No such conversation');
}

/** Dates from row_to_json arrive as strings, from columns as Dates. */
function iso(d: Date | string | null): string | null {
  return d === null ? null : new Date(d).toISOString();
}

export function messageView(m: MessageRow): MessageView {
  return {
    id: m.id,
    conversationId: m.conversationId,
    seq: m.seq,
    senderId: m.senderId,
    clientMessageId: m.clientMessageId,
    kind: m.kind,
    content: m.content,
    createdAt: iso(m.createdAt)!,
    editedAt: iso(m.editedAt),
    deletedAt: iso(m.deletedAt),
  };
}

function conversationView(r: MembershipRow): Omit<ConversationView, 'participantIds'> {
  return {
    id: r.id,
    type: r.type,
    title: r.title,
    createdBy: r.createdBy,
    lastSeq: r.lastSeq,
    lastActivityAt: iso(r.lastActivityAt)!,
    createdAt: iso(r.createdAt)!,
    role: r.role,
    unreadCount: Math.max(0, r.lastSeq - r.lastReadSeq),
    lastReadSeq: r.lastReadSeq,
    lastDeliveredSeq: r.lastDeliveredSeq,
    mutedUntil: iso(r.mutedUntil),
  };
}
