import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { PreferenceRules } from './preferences';
import { rowsOf } from '../../core/database/rows';

export interface NewNotification {
  id: string;
  tenantId: string;
  category: string;
  priority: string;
  title: string | null;
  body: string | null;
  data: Record<string, string>;
  collapseKey: string | null;
  ttlSeconds: number | null;
  recipients: Record<string, unknown>;
  idempotencyKey: string | null;
  /** The badge and sound the caller asked for (null: the recipient's unread count, the default sound). */
  badge: number | null;
  sound: string | null;
  /** Users who get an inbox entry. */
  inboxUserIds: string[];
}

/** A notification as stored: what was asked for, plus its fan-out status and creation time. */
export interface StoredNotification extends Omit<NewNotification, 'idempotencyKey' | 'inboxUserIds'> {
  status: string;
  createdAt: Date;
}

export interface InboxRow {
  seq: string;
  id: string;
  category: string;
  priority: string;
  title: string | null;
  body: string | null;
  data: Record<string, string>;
  createdAt: Date;
  readAt: Date | null;
}

const NOTIFICATION_COLUMNS = `id, tenant_id AS "tenantId", category, priority, title, body, data, collapse_key AS "collapseKey",
  ttl_seconds AS "ttlSeconds", recipients, status, created_at AS "createdAt", badge, sound`;

@Injectable()
export class NotificationsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Writes the notification and its inbox entries in one statement (so both or neither). With an
   * idempotency key already used in the tenant, writes nothing and returns the existing one. In the
   * caller's transaction (the outbox rows of its fan-out go with it).
   */
  async create(em: EntityManager, n: NewNotification): Promise<{ notification: StoredNotification; created: boolean; inboxCount: number }> {
    const rows: { id: string | null; inbox: number }[] = await em.query(
      `WITH n AS (
         INSERT INTO notifications (id, tenant_id, category, priority, title, body, data, collapse_key, ttl_seconds,
           recipients, idempotency_key, status, badge, sound)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $13, $14)
         ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
         RETURNING id, created_at),
       i AS (
         INSERT INTO notification_inbox (notification_id, tenant_id, user_id, created_at)
         SELECT n.id, $2, u, n.created_at FROM n, unnest($12::varchar[]) AS u
         RETURNING 1)
       SELECT (SELECT id FROM n) AS id, (SELECT count(*)::int FROM i) AS inbox`,
      [
        n.id,
        n.tenantId,
        n.category,
        n.priority,
        n.title,
        n.body,
        JSON.stringify(n.data),
        n.collapseKey,
        n.ttlSeconds,
        JSON.stringify(n.recipients),
        n.idempotencyKey,
        n.inboxUserIds,
        n.badge,
        n.sound,
      ],
    );
    if (rows[0].id) return { notification: (await this.find(n.id, em))!, created: true, inboxCount: rows[0].inbox };
    const existing: StoredNotification[] = await em.query(
      `SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE tenant_id = $1 AND idempotency_key = $2`,
      [n.tenantId, n.idempotencyKey],
    );
    return { notification: existing[0], created: false, inboxCount: 0 };
  }

  async find(id: string, em?: EntityManager): Promise<StoredNotification | null> {
    const rows: StoredNotification[] = await (em ?? this.ds).query(`SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  async markDispatched(id: string): Promise<void> {
    await this.ds.query(`UPDATE notifications SET status = 'dispatched', dispatched_at = now() WHERE id = $1`, [id]);
  }

  /**
   * Notifications still `pending` though created more than `olderThanMs` ago (and within a day: an
   * older one's job failed for good and was removed, not lost), oldest first.
   */
  async stalePending(olderThanMs: number, limit: number): Promise<{ id: string; tenantId: string }[]> {
    return this.ds.query(
      `SELECT id, tenant_id AS "tenantId" FROM notifications
        WHERE status = 'pending' AND created_at < now() - $1 * interval '1 millisecond' AND created_at > now() - interval '1 day'
        ORDER BY created_at LIMIT $2`,
      [olderThanMs, limit],
    );
  }

  /** Preferences of these users; users without a row have the defaults and are left out. */
  async preferencesOf(tenantId: string, userIds: string[]): Promise<Map<string, PreferenceRules>> {
    if (!userIds.length) return new Map();
    const rows: (PreferenceRules & { userId: string })[] = await this.ds.query(
      `SELECT user_id AS "userId", enabled, muted_categories AS "mutedCategories", quiet_start AS "quietStart",
              quiet_end AS "quietEnd", quiet_timezone AS "quietTimezone"
         FROM notification_preferences WHERE tenant_id = $1 AND user_id = ANY($2::varchar[])`,
      [tenantId, userIds],
    );
    return new Map(rows.map((r) => [r.userId, r]));
  }

  async savePreferences(tenantId: string, userId: string, rules: PreferenceRules): Promise<void> {
    await this.ds.query(
      `INSERT INTO notification_preferences (tenant_id, user_id, enabled, muted_categories, quiet_start, quiet_end, quiet_timezone)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET enabled = EXCLUDED.enabled, muted_categories = EXCLUDED.muted_categories,
         quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end, quiet_timezone = EXCLUDED.quiet_timezone,
         updated_at = now()`,
      [tenantId, userId, rules.enabled, rules.mutedCategories, rules.quietStart, rules.quietEnd, rules.quietTimezone],
    );
  }

  /** One page of a user's inbox, newest first, below `beforeSeq`, created after `since`. */
  async inbox(tenantId: string, userId: string, opts: { beforeSeq?: string; since?: Date; limit: number }): Promise<InboxRow[]> {
    return this.ds.query(
      `SELECT i.seq, n.id, n.category, n.priority, n.title, n.body, n.data, i.created_at AS "createdAt", i.read_at AS "readAt"
         FROM notification_inbox i JOIN notifications n ON n.id = i.notification_id
        WHERE i.tenant_id = $1 AND i.user_id = $2
          AND ($3::bigint IS NULL OR i.seq < $3::bigint)
          -- createdAt reaches clients in milliseconds: compare at that precision so since excludes the item it came from
          AND ($4::timestamptz IS NULL OR date_trunc('milliseconds', i.created_at) > $4::timestamptz)
        ORDER BY i.seq DESC LIMIT $5`,
      [tenantId, userId, opts.beforeSeq ?? null, opts.since ?? null, opts.limit],
    );
  }

  async unreadCount(tenantId: string, userId: string): Promise<number> {
    const rows: { count: number }[] = await this.ds.query(
      `SELECT count(*)::int AS count FROM notification_inbox WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL`,
      [tenantId, userId],
    );
    return rows[0].count;
  }

  /** Unread inbox entries per user, leaving out the categories given (counted elsewhere); users with none are left out. */
  async unreadCounts(tenantId: string, userIds: string[], exceptCategories: string[]): Promise<Map<string, number>> {
    if (!userIds.length) return new Map();
    const rows: { userId: string; count: number }[] = await this.ds.query(
      `SELECT i.user_id AS "userId", count(*)::int AS count
         FROM notification_inbox i JOIN notifications n ON n.id = i.notification_id
        WHERE i.tenant_id = $1 AND i.user_id = ANY($2::varchar[]) AND i.read_at IS NULL AND n.category <> ALL($3::varchar[])
        GROUP BY i.user_id`,
      [tenantId, userIds, exceptCategories],
    );
    return new Map(rows.map((r) => [r.userId, r.count]));
  }

  /** Marks one entry read (keeping the first read time); null when the user has no such entry. */
  /** The users whose inbox holds this notification (its user recipients). */
  async inboxOwners(tenantId: string, notificationId: string): Promise<string[]> {
    const rows: { userId: string }[] = await this.ds.query(
      `SELECT user_id AS "userId" FROM notification_inbox WHERE tenant_id = $1 AND notification_id = $2 ORDER BY user_id`,
      [tenantId, notificationId],
    );
    return rows.map((r) => r.userId);
  }

  /** Which of these users have read the notification. */
  async readBy(tenantId: string, notificationId: string, userIds: string[]): Promise<Set<string>> {
    const rows: { userId: string }[] = await this.ds.query(
      `SELECT user_id AS "userId" FROM notification_inbox
        WHERE tenant_id = $1 AND notification_id = $2 AND user_id = ANY($3::varchar[]) AND read_at IS NOT NULL`,
      [tenantId, notificationId, userIds],
    );
    return new Set(rows.map((r) => r.userId));
  }

  async markRead(tenantId: string, userId: string, notificationId: string): Promise<Date | null> {
    const rows = rowsOf<{ readAt: Date }>(
      await this.ds.query(
        `UPDATE notification_inbox SET read_at = COALESCE(read_at, now())
          WHERE tenant_id = $1 AND user_id = $2 AND notification_id = $3 RETURNING read_at AS "readAt"`,
        [tenantId, userId, notificationId],
      ),
    );
    return rows[0]?.readAt ?? null;
  }

  async markAllRead(tenantId: string, userId: string): Promise<number> {
    const rows = rowsOf(
      await this.ds.query(
        `UPDATE notification_inbox SET read_at = now() WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL RETURNING 1`,
        [tenantId, userId],
      ),
    );
    return rows.length;
  }
}
