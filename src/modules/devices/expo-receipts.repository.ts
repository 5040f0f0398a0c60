import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** A ticket Expo accepted: its receipt id, the device it went to, and the notification. */
export interface TicketToCheck {
  id: string;
  deviceId: string;
  notificationId: string | null;
}

export interface DueTicket {
  id: string;
  deviceId: string;
  notificationId: string | null;
  createdAt: Date;
}

/** SQL for the Expo tickets awaiting their receipts (expo_push_tickets). */
@Injectable()
export class ExpoReceiptsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async insert(tickets: TicketToCheck[], delayMs: number): Promise<void> {
    if (!tickets.length) return;
    await this.ds.query(
      `INSERT INTO expo_push_tickets (id, device_id, notification_id, check_after)
       SELECT t.id, t.device_id, t.notification_id, now() + make_interval(secs => $2::float8 / 1000)
         FROM jsonb_to_recordset($1::jsonb) AS t(id varchar, device_id uuid, notification_id uuid)
       ON CONFLICT (id) DO NOTHING`,
      [JSON.stringify(tickets.map((t) => ({ id: t.id, device_id: t.deviceId, notification_id: t.notificationId }))), delayMs],
    );
  }

  /** Tickets whose receipt is due, oldest first. */
  due(limit: number): Promise<DueTicket[]> {
    return this.ds.query(
      `SELECT id, device_id AS "deviceId", notification_id AS "notificationId", created_at AS "createdAt"
         FROM expo_push_tickets WHERE check_after <= now() ORDER BY check_after LIMIT $1`,
      [limit],
    );
  }

  async delete(ids: string[]): Promise<void> {
    if (ids.length) await this.ds.query(`DELETE FROM expo_push_tickets WHERE id = ANY($1::varchar[])`, [ids]);
  }

  /** Asks again later for receipts Expo did not have yet. */
  async postpone(ids: string[], delayMs: number): Promise<void> {
    if (!ids.length) return;
    await this.ds.query(
      `UPDATE expo_push_tickets SET check_after = now() + make_interval(secs => $2::float8 / 1000) WHERE id = ANY($1::varchar[])`,
      [ids, delayMs],
    );
  }

  /** Deletes tickets older than Expo keeps receipts; how many. */
  async deleteOlderThan(maxAgeMs: number): Promise<number> {
    const result = (await this.ds.query(
      `DELETE FROM expo_push_tickets WHERE created_at < now() - make_interval(secs => $1::float8 / 1000) RETURNING id`,
      [maxAgeMs],
    )) as [unknown[], number];
    return result[1];
  }

  /** Milliseconds until the next ticket is due (0 if one is due now), or null without tickets. */
  async msUntilNextCheck(): Promise<number | null> {
    const rows: { ms: string | null }[] = await this.ds.query(
      `SELECT GREATEST(0, EXTRACT(EPOCH FROM (min(check_after) - now())) * 1000) AS ms FROM expo_push_tickets`,
    );
    return rows[0]?.ms === null || rows[0]?.ms === undefined ? null : Math.ceil(Number(rows[0].ms));
  }
}
