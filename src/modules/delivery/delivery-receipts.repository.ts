import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Acknowledgement, PushReceipt, SubjectKind } from './delivery.types';

export interface ReceiptRow {
  userId: string;
  deviceId: string;
  transport: string;
  status: string;
  detail: string | null;
  at: Date;
}

export interface RecipientDevice {
  userId: string;
  deviceId: string;
  platform: string;
  provider: string;
  active: boolean;
}

/** SQL of delivery_receipts (migration 1764500000000): one row per subject, user, device and transport. */
@Injectable()
export class DeliveryReceiptsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /** Socket acknowledgements of one tenant; the first per device and transport is kept. */
  async acknowledged(tenantId: string, acks: Acknowledgement[]): Promise<void> {
    if (!acks.length) return;
    await this.ds.query(
      `INSERT INTO delivery_receipts (tenant_id, subject_kind, subject_id, user_id, device_id, transport, status, created_at)
       SELECT $1, k, s::uuid, u, d, t, 'acknowledged', a
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) AS x(k, s, u, d, t, a)
       ON CONFLICT (tenant_id, subject_id, user_id, device_id, transport) DO NOTHING`,
      [
        tenantId,
        acks.map((a) => a.kind),
        acks.map((a) => a.subjectId),
        acks.map((a) => a.userId),
        acks.map((a) => a.deviceId ?? ''),
        acks.map((a) => a.transport),
        acks.map((a) => a.at.toISOString()),
      ],
    );
  }

  /** The providers' answers for one push to some devices; a later answer (a retry) replaces an earlier one. */
  async pushed(tenantId: string, kind: SubjectKind, subjectId: string, receipts: PushReceipt[]): Promise<void> {
    if (!receipts.length) return;
    await this.ds.query(
      `INSERT INTO delivery_receipts (tenant_id, subject_kind, subject_id, user_id, device_id, transport, status, detail)
       SELECT $1, $2, $3::uuid, u, d, 'push', st, left(dt, 200)
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) AS x(u, d, st, dt)
       ON CONFLICT (tenant_id, subject_id, user_id, device_id, transport)
       DO UPDATE SET status = EXCLUDED.status, detail = EXCLUDED.detail, created_at = now()`,
      [
        tenantId,
        kind,
        subjectId,
        receipts.map((r) => r.userId),
        receipts.map((r) => r.deviceId),
        receipts.map((r) => r.status),
        receipts.map((r) => r.detail),
      ],
    );
  }

  async forSubject(tenantId: string, subjectId: string): Promise<ReceiptRow[]> {
    return this.ds.query(
      `SELECT user_id AS "userId", device_id AS "deviceId", transport, status, detail, created_at AS "at"
         FROM delivery_receipts WHERE tenant_id = $1 AND subject_id = $2 ORDER BY created_at, id`,
      [tenantId, subjectId],
    );
  }

  /** The recipients' devices (active, or deactivated but named in a receipt). */
  async devicesOf(tenantId: string, userIds: string[]): Promise<RecipientDevice[]> {
    if (!userIds.length) return [];
    return this.ds.query(
      `SELECT user_id AS "userId", id::text AS "deviceId", platform, provider, (deactivated_at IS NULL) AS active
         FROM devices WHERE tenant_id = $1 AND user_id = ANY($2::varchar[]) ORDER BY user_id, created_at, id`,
      [tenantId, userIds],
    );
  }

  /** Deletes receipts older than `hours`, at most `limit` (every tenant's: a system task). */
  async purge(hours: number, limit: number): Promise<number> {
    const rows: unknown[] = await this.ds.query(
      `DELETE FROM delivery_receipts WHERE id IN (
         SELECT id FROM delivery_receipts WHERE created_at < now() - $1 * interval '1 hour' LIMIT $2) RETURNING 1`,
      [hours, limit],
    );
    return rowsOf(rows).length;
  }
}

function rowsOf(result: unknown): unknown[] {
  const r = result as unknown[];
  return r.length === 2 && Array.isArray(r[0]) && typeof r[1] === 'number' ? (r[0] as unknown[]) : r;
}
