import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { Device } from './entities/device.entity';
import { rowsOf } from '../../core/database/rows';

export interface DeviceRegistration {
  tenantId: string;
  userId: string;
  provider: string;
  platform: string;
  token: string;
  fid?: string;
  appVersion?: string;
  locale?: string;
  timezone?: string;
  roles: string[];
  /** The topics the device should be subscribed to, sorted (none when its provider has no topics). */
  topics: string[];
  /** Whether its provider has topics at all (Expo has none): without, no subscription work is flagged. */
  usesTopics: boolean;
}

/** Who a notification is for, within one tenant (only devices of `provider` when set). */
export type RecipientSelector = ({ userIds: string[] } | { roles: string[] } | { all: true }) & { provider?: string };

export interface DeliverableDevice {
  id: string;
  userId: string;
  provider: string;
  platform: string;
  token: string;
}

export interface TopicWork {
  id: string;
  tenantId: string;
  provider: string;
  token: string;
  roles: string[];
  topics: string[];
}

export interface RemovedSubscriptions {
  provider: string;
  token: string;
  topics: string[];
}

const COLUMNS = `id, tenant_id, user_id, provider, platform, token, token_hash, fid, app_version, locale, timezone,
  roles, topics, topics_pending, topics_synced_at, last_seen_at, deactivated_at, deactivation_reason, created_at, updated_at`;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function toDevice(row: Record<string, unknown>): Device {
  return Object.assign(new Device(), {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    provider: row.provider,
    platform: row.platform,
    token: row.token,
    tokenHash: row.token_hash,
    fid: row.fid,
    appVersion: row.app_version,
    locale: row.locale,
    timezone: row.timezone,
    roles: row.roles,
    topics: row.topics,
    topicsPending: row.topics_pending,
    topicsSyncedAt: row.topics_synced_at,
    lastSeenAt: row.last_seen_at,
    deactivatedAt: row.deactivated_at,
    deactivationReason: row.deactivation_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}

/** SQL for devices. Hot paths (fan-out paging, delivery reads) are single statements over indexes. */
@Injectable()
export class DevicesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * Inserts or updates the token's row in one statement. The row keeps its id when the token moves
   * to another user or tenant; its subscriptions are flagged for redoing when they no longer match
   * (new owner, other roles, reactivated token).
   */
  async upsert(r: DeviceRegistration): Promise<{ device: Device; created: boolean }> {
    const rows: Record<string, unknown>[] = await this.ds.query(
      `INSERT INTO devices AS d (id, tenant_id, user_id, provider, platform, token, token_hash, fid, app_version, locale,
         timezone, roles, topics, topics_pending, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '{}', $14, now())
       ON CONFLICT (token_hash) DO UPDATE SET
         tenant_id = EXCLUDED.tenant_id,
         user_id = EXCLUDED.user_id,
         provider = EXCLUDED.provider,
         platform = EXCLUDED.platform,
         fid = COALESCE(EXCLUDED.fid, d.fid),
         app_version = COALESCE(EXCLUDED.app_version, d.app_version),
         locale = COALESCE(EXCLUDED.locale, d.locale),
         timezone = COALESCE(EXCLUDED.timezone, d.timezone),
         roles = EXCLUDED.roles,
         -- a token FCM had dropped lost its subscriptions with it
         topics = CASE WHEN d.deactivated_at IS NULL THEN d.topics ELSE '{}' END,
         topics_pending = $14 AND (d.topics_pending OR d.deactivated_at IS NOT NULL OR d.topics IS DISTINCT FROM $13::text[]),
         last_seen_at = now(),
         deactivated_at = NULL,
         deactivation_reason = NULL,
         updated_at = now()
       RETURNING ${COLUMNS}, (xmax = 0) AS created`,
      [
        randomUUID(),
        r.tenantId,
        r.userId,
        r.provider,
        r.platform,
        r.token,
        tokenHash(r.token),
        r.fid ?? null,
        r.appVersion ?? null,
        r.locale ?? null,
        r.timezone ?? null,
        r.roles,
        r.topics,
        r.usesTopics,
      ],
    );
    return { device: toDevice(rows[0]), created: rows[0].created as boolean };
  }

  async listForUser(tenantId: string, userId: string): Promise<Device[]> {
    const rows: Record<string, unknown>[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM devices WHERE tenant_id = $1 AND user_id = $2 ORDER BY last_seen_at DESC, id`,
      [tenantId, userId],
    );
    return rows.map(toDevice);
  }

  /** Deletes one of the user's devices; what it was subscribed to, or null if it is not theirs. */
  async deleteForUser(tenantId: string, userId: string, id: string, em?: EntityManager): Promise<RemovedSubscriptions | null> {
    const rows = rowsOf<RemovedSubscriptions>(
      await (em ?? this.ds).query(
        `DELETE FROM devices WHERE id = $1 AND tenant_id = $2 AND user_id = $3 RETURNING provider, token, topics`,
        [id, tenantId, userId],
      ),
    );
    return rows[0] ?? null;
  }

  /** One page of active recipient devices in id order (keyset), for fan-out; of one provider if `provider` is set. */
  async pageRecipients(
    tenantId: string,
    selector: RecipientSelector,
    afterId: string | null,
    limit: number,
  ): Promise<{ id: string; userId: string }[]> {
    const params: unknown[] = [tenantId, afterId ?? '00000000-0000-0000-0000-000000000000', limit];
    let filter = '';
    if ('userIds' in selector) {
      params.push(selector.userIds);
      filter = `AND user_id = ANY($${params.length}::varchar[])`;
    } else if ('roles' in selector) {
      params.push(selector.roles);
      filter = `AND roles && $${params.length}::text[]`;
    }
    if (selector.provider) {
      params.push(selector.provider);
      filter += ` AND provider = $${params.length}`;
    }
    return this.ds.query(
      `SELECT id, user_id AS "userId" FROM devices
        WHERE tenant_id = $1 AND deactivated_at IS NULL AND id > $2 ${filter}
        ORDER BY id LIMIT $3`,
      params,
    );
  }

  /** The active devices among these ids (a deactivated or deleted one is skipped). */
  async findDeliverable(ids: string[]): Promise<DeliverableDevice[]> {
    return this.ds.query(
      `SELECT id, user_id AS "userId", provider, platform, token FROM devices
        WHERE id = ANY($1::uuid[]) AND deactivated_at IS NULL`,
      [ids],
    );
  }

  async deactivate(ids: string[], reason: string): Promise<number> {
    if (!ids.length) return 0;
    const rows = rowsOf(
      await this.ds.query(
        `UPDATE devices SET deactivated_at = now(), deactivation_reason = $2, updated_at = now()
          WHERE id = ANY($1::uuid[]) AND deactivated_at IS NULL RETURNING id`,
        [ids, reason.slice(0, 100)],
      ),
    );
    return rows.length;
  }

  /** Active devices whose topic subscriptions need redoing, oldest change first. */
  async pendingTopicWork(limit: number): Promise<TopicWork[]> {
    return this.ds.query(
      `SELECT id, tenant_id AS "tenantId", provider, token, roles, topics FROM devices
        WHERE topics_pending AND deactivated_at IS NULL
        ORDER BY updated_at LIMIT $1`,
      [limit],
    );
  }

  /**
   * Records the subscriptions a sync made. A device re-registered meanwhile with another owner or
   * roles stays pending (its row no longer matches what the sync worked from), as does one with
   * failed calls.
   */
  async saveTopicProgress(work: { id: string; tenantId: string; roles: string[]; topics: string[]; done: boolean }[]): Promise<void> {
    if (!work.length) return;
    await this.ds.query(
      `UPDATE devices d SET
         topics = w.topics::text[],
         topics_synced_at = now(),
         topics_pending = NOT w.done OR d.tenant_id <> w.tenant_id OR d.roles <> w.roles::text[] OR d.deactivated_at IS NOT NULL
       FROM jsonb_to_recordset($1::jsonb) AS w(id uuid, tenant_id text, roles text, topics text, done boolean)
       WHERE d.id = w.id`,
      [
        JSON.stringify(
          work.map((w) => ({
            id: w.id,
            tenant_id: w.tenantId,
            roles: pgArray(w.roles),
            topics: pgArray(w.topics),
            done: w.done,
          })),
        ),
      ],
    );
  }

  async hasPendingTopicWork(): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(`SELECT 1 FROM devices WHERE topics_pending AND deactivated_at IS NULL LIMIT 1`);
    return rows.length > 0;
  }

  /** Flags subscriptions older than `days` for a refresh (FCM advises re-subscribing monthly). */
  async refreshOldSubscriptions(days: number): Promise<number> {
    const rows = rowsOf(
      await this.ds.query(
        `UPDATE devices SET topics = '{}', topics_pending = true
          WHERE NOT topics_pending AND deactivated_at IS NULL AND topics_synced_at < now() - make_interval(days => $1)
          RETURNING id`,
        [days],
      ),
    );
    return rows.length;
  }

  /** Deletes up to `limit` devices not seen for `days` days; what they were subscribed to. */
  async deleteStale(days: number, limit: number): Promise<(RemovedSubscriptions & { active: boolean })[]> {
    return rowsOf(
      await this.ds.query(
        `DELETE FROM devices WHERE id IN (
           SELECT id FROM devices WHERE last_seen_at < now() - make_interval(days => $1) ORDER BY last_seen_at LIMIT $2)
         RETURNING provider, token, topics, deactivated_at IS NULL AS active`,
        [days, limit],
      ),
    );
  }
}

/** A text[] literal, compared as text to the stored array. */
function pgArray(values: string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}
