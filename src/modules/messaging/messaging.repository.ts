import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { rowsOf } from '../../core/database/rows';
import { recordCtes, recordedJson, type RecordedRow } from '../../core/outbox';
import type { MessageView } from './dto/messaging.dto';

/** What runs a statement: the pool, or a transaction's EntityManager. */
type Db = Pick<EntityManager, 'query'>;

export interface MessageRow {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string;
  clientMessageId: string;
  kind: string;
  content: string | null;
  createdAt: Date;
  editedAt: Date | null;
  deletedAt: Date | null;
}

export interface ConversationRow {
  id: string;
  type: string;
  title: string | null;
  createdBy: string;
  lastSeq: number;
  lastActivityAt: Date;
  /** Microseconds since the epoch: an exact cursor (JS dates stop at milliseconds). */
  activityUs: string;
  createdAt: Date;
}

/** The caller's own participation, joined with the conversation. */
export interface MembershipRow extends ConversationRow {
  role: string;
  mutedUntil: Date | null;
  lastDeliveredSeq: number;
  lastReadSeq: number;
}

export interface ListedConversationRow extends MembershipRow {
  participantIds: string[];
  lastMessage: MessageRow | null;
}

export interface ParticipantRow {
  userId: string;
  role: string;
  joinedAt: Date;
  lastDeliveredSeq: number;
  lastReadSeq: number;
}

export interface SendResult {
  /** The stored message as messageView() shows it (built by the statement, as in its `message:new`). */
  message: MessageView;
  /** Its outbox row (see MessagingService.publishMessage). */
  outbox: RecordedRow[];
}

const MESSAGE_COLUMNS = `m.id, m.conversation_id AS "conversationId", m.seq, m.sender_id AS "senderId",
  m.client_message_id AS "clientMessageId", m.kind, m.content, m.created_at AS "createdAt",
  m.edited_at AS "editedAt", m.deleted_at AS "deletedAt"`;

const CONVERSATION_COLUMNS = `c.id, c.type, c.title, c.created_by AS "createdBy", c.last_seq AS "lastSeq",
  c.last_activity_at AS "lastActivityAt",
  (extract(epoch FROM c.last_activity_at) * 1000000)::bigint::text AS "activityUs", c.created_at AS "createdAt"`;

const MEMBERSHIP_COLUMNS = `${CONVERSATION_COLUMNS}, p.role, p.muted_until AS "mutedUntil",
  p.last_delivered_seq AS "lastDeliveredSeq", p.last_read_seq AS "lastReadSeq"`;

/** SQL for messaging; no business rules. Every query is scoped by tenant. */
@Injectable()
export class MessagingRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /** The caller's active membership, or undefined (not a participant, left, or no such conversation). */
  async membership(tenantId: string, conversationId: string, userId: string): Promise<MembershipRow | undefined> {
    const rows: MembershipRow[] = await this.ds.query(
      `SELECT ${MEMBERSHIP_COLUMNS}
         FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
        WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.tenant_id = $3 AND c.tenant_id = $3 AND p.left_at IS NULL`,
      [conversationId, userId, tenantId],
    );
    return rows[0];
  }

  /** Creates the direct conversation of a pair, or finds it (also under concurrent creates). */
  async createDirect(tenantId: string, id: string, creator: string, other: string): Promise<{ id: string; created: boolean }> {
    const key = directKey(creator, other);
    const inserted: { id: string }[] = await this.ds.query(
      `WITH c AS (
         INSERT INTO conversations (id, tenant_id, type, created_by, direct_key) VALUES ($1, $2, 'direct', $3, $5)
         ON CONFLICT (tenant_id, direct_key) DO NOTHING RETURNING id)
       INSERT INTO conversation_participants (conversation_id, user_id, tenant_id, role)
       SELECT c.id, u, $2, 'member' FROM c, unnest(ARRAY[$3, $4]::varchar[]) AS u
       RETURNING conversation_id AS id`,
      [id, tenantId, creator, other, key],
    );
    if (inserted.length) return { id: inserted[0].id, created: true };
    // It exists (perhaps committed a moment ago by a concurrent create): reopen it for the creator.
    const existing = rowsOf<{ id: string }>(
      await this.ds.query(
        `WITH c AS (SELECT id FROM conversations WHERE tenant_id = $1 AND direct_key = $2)
       UPDATE conversation_participants p SET left_at = NULL FROM c
        WHERE p.conversation_id = c.id AND p.user_id = $3 RETURNING c.id`,
        [tenantId, key, creator],
      ),
    );
    return { id: existing[0].id, created: false };
  }

  async createGroup(tenantId: string, id: string, creator: string, title: string | null, members: string[]): Promise<void> {
    await this.ds.query(
      `WITH c AS (
         INSERT INTO conversations (id, tenant_id, type, title, created_by) VALUES ($1, $2, 'group', $3, $4) RETURNING id)
       INSERT INTO conversation_participants (conversation_id, user_id, tenant_id, role)
       SELECT c.id, u, $2, CASE WHEN u = $4 THEN 'admin' ELSE 'member' END FROM c, unnest($5::varchar[]) AS u`,
      [id, tenantId, title, creator, members],
    );
  }

  /** Adds users, or brings back those who had left; returns the users who were not active before. */
  async addParticipants(tenantId: string, conversationId: string, userIds: string[], db: Db = this.ds): Promise<string[]> {
    const rows: { userId: string }[] = await db.query(
      `WITH before AS (
         SELECT user_id FROM conversation_participants WHERE conversation_id = $1 AND left_at IS NULL),
       up AS (
         INSERT INTO conversation_participants (conversation_id, user_id, tenant_id, role)
         SELECT $1, u, $2, 'member' FROM unnest($3::varchar[]) AS u
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET left_at = NULL, joined_at = CASE
           WHEN conversation_participants.left_at IS NULL THEN conversation_participants.joined_at ELSE now() END
         RETURNING user_id)
       SELECT up.user_id AS "userId" FROM up WHERE up.user_id NOT IN (SELECT user_id FROM before)`,
      [conversationId, tenantId, userIds],
    );
    return rows.map((r) => r.userId);
  }

  /** Soft delete: true if the user was an active participant. */
  async leave(tenantId: string, conversationId: string, userId: string, db: Db = this.ds): Promise<boolean> {
    const rows = rowsOf(
      await db.query(
        `UPDATE conversation_participants SET left_at = now()
        WHERE conversation_id = $1 AND user_id = $2 AND tenant_id = $3 AND left_at IS NULL RETURNING 1`,
        [conversationId, userId, tenantId],
      ),
    );
    return rows.length > 0;
  }

  async activeParticipants(conversationId: string): Promise<ParticipantRow[]> {
    return this.ds.query(
      `SELECT user_id AS "userId", role, joined_at AS "joinedAt", last_delivered_seq AS "lastDeliveredSeq",
              last_read_seq AS "lastReadSeq"
         FROM conversation_participants WHERE conversation_id = $1 AND left_at IS NULL ORDER BY joined_at, user_id`,
      [conversationId],
    );
  }

  async setMute(tenantId: string, conversationId: string, userId: string, until: Date | null, db: Db = this.ds): Promise<void> {
    await db.query(
      `UPDATE conversation_participants SET muted_until = $4
        WHERE conversation_id = $1 AND user_id = $2 AND tenant_id = $3 AND left_at IS NULL`,
      [conversationId, userId, tenantId, until],
    );
  }

  /**
   * The caller's conversations, most recent activity first, with the last message and the
   * participants; keyset-paginated on (last_activity_at, id).
   */
  async list(
    tenantId: string,
    userId: string,
    cursor: { activityUs: string; id: string } | undefined,
    limit: number,
  ): Promise<ListedConversationRow[]> {
    const params: unknown[] = [tenantId, userId, limit];
    let where = '';
    if (cursor) {
      params.push(cursor.activityUs, cursor.id);
      where = `AND (c.last_activity_at, c.id) < ('epoch'::timestamptz + $4::bigint * interval '1 microsecond', $5::uuid)`;
    }
    return this.ds.query(
      `SELECT ${MEMBERSHIP_COLUMNS},
              (SELECT array_agg(o.user_id ORDER BY o.user_id) FROM conversation_participants o
                WHERE o.conversation_id = c.id AND o.left_at IS NULL) AS "participantIds",
              (SELECT row_to_json(x) FROM (SELECT ${MESSAGE_COLUMNS} FROM messages m
                WHERE m.conversation_id = c.id AND m.seq = c.last_seq) x) AS "lastMessage"
         FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
        WHERE p.tenant_id = $1 AND p.user_id = $2 AND p.left_at IS NULL ${where}
        ORDER BY c.last_activity_at DESC, c.id DESC
        LIMIT $3`,
      params,
    );
  }

  /**
   * Sends one message in one statement (one transaction, one round trip): bumps the
   * conversation's last_seq under its row lock (only for an active participant), inserts the
   * message with that seq, moves the sender's pointers to it (posting counts as reading), records
   * its outbox rows (`message:new` on the conversation channel, with live copies to the
   * participants' user rooms, and the push check for unmuted recipients, in one row: see
   * MessagingService.publishMessage) and returns the message's view and that row. A clientMessageId the sender already used violates the
   * unique index, which undoes the whole statement (no gap in seq, no outbox row); the stored
   * message is returned instead. Neither result nor duplicate: not an active participant.
   */
  async send(
    tenantId: string,
    conversationId: string,
    senderId: string,
    message: { id: string; clientMessageId: string; kind: string; content: string },
    outbox: { channel: string; channelKey: string; userChannelPrefix: string; kind: string },
  ): Promise<{ result?: SendResult; duplicate?: MessageRow }> {
    let rows: SendResult[];
    // One row: `message:new` (the message as messageView() shows it, createdAt in ISO milliseconds,
    // UTC) with its live copies to the participants' user rooms, and the unmuted recipients to push to.
    const source = `
      SELECT 1 AS ord, $2::varchar AS tenant_id, $11::varchar AS kind, $9::text AS channel_key,
             jsonb_build_object('channel', $8::text, 'event', 'message:new', 'data', v.view, 'live', jsonb_build_object(
               'channels', (SELECT jsonb_agg($10::text || a.user_id ORDER BY a.user_id <> $3, a.user_id) FROM p a),
               'exceptChannels', jsonb_build_array($8::text)),
             'push', COALESCE((SELECT jsonb_agg(r.user_id ORDER BY r.user_id) FROM p r
                                WHERE r.user_id <> $3 AND NOT r.muted), '[]'::jsonb)) AS payload
        FROM v`;
    try {
      // A named statement: PostgreSQL parses and plans this many-CTE statement once per connection
      // instead of on every send (TypeORM's query() sends unnamed ones).
      const pool = (this.ds.driver as PostgresDriver).master as Pool;
      const answer = await pool.query({
        name: 'messaging.send',
        text: `WITH p AS (
           SELECT user_id, COALESCE(muted_until > now(), false) AS muted FROM conversation_participants
            WHERE conversation_id = $1 AND left_at IS NULL),
         c AS (
           UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = now()
            WHERE id = $1 AND tenant_id = $2 AND EXISTS (SELECT 1 FROM p WHERE p.user_id = $3)
           RETURNING id, last_seq),
         m AS (
           INSERT INTO messages (id, tenant_id, conversation_id, seq, sender_id, client_message_id, kind, content)
           SELECT $4, $2, c.id, c.last_seq, $3, $5, $6, $7 FROM c
           RETURNING *),
         s AS (
           UPDATE conversation_participants p
              SET last_read_seq = GREATEST(p.last_read_seq, m.seq), last_delivered_seq = GREATEST(p.last_delivered_seq, m.seq)
             FROM m WHERE p.conversation_id = m.conversation_id AND p.user_id = m.sender_id RETURNING 1),
         v AS (
           SELECT jsonb_build_object('id', m.id, 'conversationId', m.conversation_id, 'seq', m.seq, 'senderId', m.sender_id,
                    'clientMessageId', m.client_message_id, 'kind', m.kind, 'content', m.content,
                    'createdAt', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                    'editedAt', NULL, 'deletedAt', NULL) AS view
             FROM m),
         ${recordCtes('o', source)}
         -- The view, not the columns: no timestamps to parse, and exactly what message:new carries.
         SELECT v.view AS message, ${recordedJson('o')} AS outbox FROM v`,
        values: [
          conversationId,
          tenantId,
          senderId,
          message.id,
          message.clientMessageId,
          message.kind,
          message.content,
          outbox.channel,
          outbox.channelKey,
          outbox.userChannelPrefix,
          outbox.kind,
        ],
      });
      rows = answer.rows;
    } catch (err) {
      if (!isUniqueViolation(err, 'IDX_messages_sender_client_id')) throw err;
      return { duplicate: await this.messageByClientId(tenantId, senderId, message.clientMessageId) };
    }
    return rows.length ? { result: rows[0] } : {};
  }

  async messageByClientId(tenantId: string, senderId: string, clientMessageId: string): Promise<MessageRow | undefined> {
    const rows: MessageRow[] = await this.ds.query(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.tenant_id = $1 AND m.sender_id = $2 AND m.client_message_id = $3`,
      [tenantId, senderId, clientMessageId],
    );
    return rows[0];
  }

  /** Where these messages are (acknowledged deliveries): conversation, seq and sender of each found. */
  async placesOf(messageIds: string[]): Promise<{ id: string; conversationId: string; seq: number; senderId: string }[]> {
    if (!messageIds.length) return [];
    return this.ds.query(
      `SELECT id::text, conversation_id AS "conversationId", seq, sender_id AS "senderId" FROM messages WHERE id = ANY($1::uuid[])`,
      [messageIds],
    );
  }

  async message(conversationId: string, messageId: string): Promise<MessageRow | undefined> {
    const rows: MessageRow[] = await this.ds.query(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND m.id = $2`, [
      conversationId,
      messageId,
    ]);
    return rows[0];
  }

  /** `before`: the page just older than that seq; `after`: just newer; neither: the newest. Ascending. */
  async messages(conversationId: string, q: { before?: number; after?: number; limit: number }): Promise<MessageRow[]> {
    if (q.after !== undefined) {
      return this.ds.query(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3`,
        [conversationId, q.after, q.limit],
      );
    }
    const rows: MessageRow[] = await this.ds.query(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3`,
      [conversationId, q.before ?? 2 ** 31 - 1, q.limit],
    );
    return rows.reverse();
  }

  /** Edits the text of a live message; undefined if it is deleted or not there. */
  async edit(conversationId: string, messageId: string, content: string, db: Db = this.ds): Promise<MessageRow | undefined> {
    const rows = rowsOf<MessageRow>(
      await db.query(
        `UPDATE messages m SET content = $3, edited_at = now()
        WHERE m.conversation_id = $1 AND m.id = $2 AND m.deleted_at IS NULL RETURNING ${MESSAGE_COLUMNS}`,
        [conversationId, messageId, content],
      ),
    );
    return rows[0];
  }

  /** Leaves a tombstone; undefined if already deleted or not there. */
  async tombstone(conversationId: string, messageId: string, db: Db = this.ds): Promise<MessageRow | undefined> {
    const rows = rowsOf<MessageRow>(
      await db.query(
        `UPDATE messages m SET content = NULL, deleted_at = now()
        WHERE m.conversation_id = $1 AND m.id = $2 AND m.deleted_at IS NULL RETURNING ${MESSAGE_COLUMNS}`,
        [conversationId, messageId],
      ),
    );
    return rows[0];
  }

  /**
   * Moves the caller's delivered (or read, which implies delivered) pointer forward to
   * min(upToSeq, last_seq). Returns the pointers after the update and whether the named one moved;
   * when it moved, also the id of the message it now points at and the active participants.
   */
  async advance(
    conversationId: string,
    userId: string,
    status: 'delivered' | 'read',
    upToSeq: number,
    db: Db = this.ds,
  ): Promise<AdvanceResult | undefined> {
    const moved =
      status === 'read'
        ? `last_read_seq = GREATEST(p.last_read_seq, t.target), last_delivered_seq = GREATEST(p.last_delivered_seq, t.target)`
        : `last_delivered_seq = GREATEST(p.last_delivered_seq, t.target)`;
    const column = status === 'read' ? 'last_read_seq' : 'last_delivered_seq';
    const rows = rowsOf<Omit<AdvanceResult, 'moved'>>(
      await db.query(
        // The conversation's row first (shared), as every writer of a conversation takes it first
        // (a send updates it): a pointer move and a send never wait on each other's later locks.
        `WITH t AS (SELECT LEAST($3::int, c.last_seq) AS target, c.last_seq FROM conversations c WHERE c.id = $1 FOR SHARE)
       UPDATE conversation_participants p SET ${moved} FROM t
        WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.left_at IS NULL AND p.${column} < t.target
       RETURNING p.last_delivered_seq AS "lastDeliveredSeq", p.last_read_seq AS "lastReadSeq", t.last_seq AS "lastSeq",
                 (SELECT m.id FROM messages m WHERE m.conversation_id = $1 AND m.seq = t.target) AS "messageId",
                 (SELECT array_agg(o.user_id ORDER BY o.user_id) FROM conversation_participants o
                   WHERE o.conversation_id = $1 AND o.left_at IS NULL) AS "participantIds"`,
        [conversationId, userId, upToSeq],
      ),
    );
    if (rows[0]) return { ...rows[0], moved: true };
    const current: {
      lastDeliveredSeq: number;
      lastReadSeq: number;
      lastSeq: number;
    }[] = await db.query(
      `SELECT p.last_delivered_seq AS "lastDeliveredSeq", p.last_read_seq AS "lastReadSeq", c.last_seq AS "lastSeq"
         FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
        WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.left_at IS NULL`,
      [conversationId, userId],
    );
    return current[0] ? { ...current[0], moved: false } : undefined;
  }

  /**
   * Moves many participants' delivered pointers forward at once (acknowledged deliveries), in the
   * caller's transaction, locking in the order every writer of a conversation does: the
   * conversations (shared, by id), then the participants' rows (by conversation and user), so
   * concurrent sends and other pods' batches never deadlock with it. Returns the pointers that moved,
   * with the message now at each and the conversation's active participants.
   */
  async advanceDelivered(
    targets: { conversationId: string; userId: string; seq: number }[],
    db: Db,
  ): Promise<{ conversationId: string; userId: string; upToSeq: number; messageId: string; participantIds: string[] }[]> {
    if (!targets.length) return [];
    const conversations = targets.map((t) => t.conversationId);
    const users = targets.map((t) => t.userId);
    const seqs = targets.map((t) => t.seq);
    await db.query(`SELECT 1 FROM conversations WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE`, [conversations]);
    await db.query(
      `SELECT 1 FROM conversation_participants p
         JOIN unnest($1::uuid[], $2::varchar[]) AS x(c, u) ON p.conversation_id = x.c AND p.user_id = x.u
        ORDER BY p.conversation_id, p.user_id FOR UPDATE OF p`,
      [conversations, users],
    );
    return rowsOf(
      await db.query(
        `WITH x AS (SELECT c, u, s FROM unnest($1::uuid[], $2::varchar[], $3::int[]) AS x(c, u, s))
         UPDATE conversation_participants p
            SET last_delivered_seq = LEAST(x.s, conv.last_seq)
           FROM x JOIN conversations conv ON conv.id = x.c
          WHERE p.conversation_id = x.c AND p.user_id = x.u AND p.left_at IS NULL AND p.last_delivered_seq < LEAST(x.s, conv.last_seq)
         RETURNING p.conversation_id AS "conversationId", p.user_id AS "userId", p.last_delivered_seq AS "upToSeq",
                   (SELECT m.id FROM messages m WHERE m.conversation_id = p.conversation_id AND m.seq = p.last_delivered_seq) AS "messageId",
                   (SELECT array_agg(o.user_id ORDER BY o.user_id) FROM conversation_participants o
                     WHERE o.conversation_id = p.conversation_id AND o.left_at IS NULL) AS "participantIds"`,
        [conversations, users, seqs],
      ),
    );
  }

  /** How many of these messages are in the conversation, and the highest seq among them. */
  async seqOfMessages(conversationId: string, messageIds: string[]): Promise<{ found: number; maxSeq: number | null }> {
    const rows: { found: number; maxSeq: number | null }[] = await this.ds.query(
      `SELECT count(*)::int AS found, max(m.seq) AS "maxSeq" FROM messages m WHERE m.conversation_id = $1 AND m.id = ANY($2::uuid[])`,
      [conversationId, messageIds],
    );
    return rows[0];
  }

  /** The users of a conversation's tenant who are active participants now. */
  async activeParticipantIds(tenantId: string, conversationId: string): Promise<string[]> {
    const rows: { userId: string }[] = await this.ds.query(
      `SELECT user_id AS "userId" FROM conversation_participants WHERE conversation_id = $1 AND tenant_id = $2 AND left_at IS NULL`,
      [conversationId, tenantId],
    );
    return rows.map((r) => r.userId);
  }
}

export interface AdvanceResult {
  lastDeliveredSeq: number;
  lastReadSeq: number;
  lastSeq: number;
  moved: boolean;
  /** When moved: the message at the new pointer. */
  messageId?: string;
  /** When moved: the active participants. */
  participantIds?: string[];
}

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
  const d = e.driverError ?? e;
  return d.code === '23505' && d.constraint === constraint;
}

/**
 * The unique key of a pair's direct conversation: the two ids sorted, joined by `|`. An id may hold
 * a `|` itself (Auth0's `auth0|...`); then the first id's length leads the key, so no two pairs
 * share one (keys of ids without `|` have exactly one `|` and stay as they always were).
 */
export function directKey(a: string, b: string): string {
  const [first, second] = [a, b].sort();
  return first.includes('|') || second.includes('|') ? `${first.length}:${first}|${second}` : `${first}|${second}`;
}
