import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { TenantScope } from '../database/tenant-scope';
import { recordCtes, ROW_COLUMNS } from './outbox.sql';
import type { OutboxEntry, RecordedRow } from './outbox.types';

/** First key of the relay's advisory locks (two-key form), apart from the app's other advisory locks. */
const CHANNEL_LOCK_CLASS = 0x0b0c;

/** TypeORM answers UPDATE and DELETE with [rows, count]; everything else with rows. */
function rowsOf<T>(result: unknown): T[] {
  const r = result as unknown[];
  return r.length === 2 && Array.isArray(r[0]) && typeof r[1] === 'number' ? (r[0] as T[]) : (r as T[]);
}

/** SQL of the outbox tables. */
@Injectable()
export class OutboxRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  /** Records entries in the caller's transaction, in order; returns the rows. */
  async record(em: EntityManager, entries: OutboxEntry[]): Promise<RecordedRow[]> {
    if (!entries.length) return [];
    const input = entries.map((e, ord) => ({
      ord,
      tenant_id: e.tenantId,
      kind: e.kind,
      channel_key: e.channelKey ?? null,
      payload: e.payload ?? null,
    }));
    const source = `SELECT x.ord, x.tenant_id, x.kind, x.channel_key, x.payload
      FROM jsonb_to_recordset($1::jsonb) AS x(ord int, tenant_id varchar, kind varchar, channel_key text, payload jsonb)`;
    const rows: RecordedRow[] = await em.query(`WITH ${recordCtes('rec', source)} SELECT * FROM rec ORDER BY id::bigint`, [
      JSON.stringify(input),
    ]);
    return rows;
  }

  /**
   * Takes these channels' sequence locks now, without using a number: what the transaction reads
   * afterwards (READ COMMITTED: each statement sees what committed before it) includes every
   * earlier writer of the channel, e.g. counts published in sequence order are never stale.
   */
  async lockChannels(em: EntityManager, keys: string[]): Promise<void> {
    if (!keys.length) return;
    await em.query(
      `INSERT INTO outbox_channels (channel_key, last_seq) SELECT k, 0 FROM unnest($1::text[]) k ORDER BY k
       ON CONFLICT (channel_key) DO UPDATE SET last_seq = outbox_channels.last_seq`,
      [[...new Set(keys)].sort()],
    );
  }

  async delete(ids: string[], em?: EntityManager): Promise<void> {
    if (!ids.length) return;
    await (em ?? this.ds).query(`DELETE FROM outbox WHERE id = ANY($1::bigint[])`, [ids]);
  }

  async failed(id: string, error: string, retryInMs: number, em?: EntityManager): Promise<void> {
    await (em ?? this.ds).query(
      `UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = now() + $3 * interval '1 millisecond' WHERE id = $1`,
      [id, error.slice(0, 1000), retryInMs],
    );
  }

  /** Channels whose first undone row is older than `delayMs` and due; oldest first. */
  async dueChannels(delayMs: number, limit: number): Promise<string[]> {
    const rows: { channelKey: string }[] = await this.ds.query(
      `SELECT h.channel_key AS "channelKey" FROM (
         SELECT DISTINCT ON (channel_key) channel_key, id, created_at, next_attempt_at
           FROM outbox WHERE channel_key IS NOT NULL ORDER BY channel_key, channel_seq) h
        WHERE h.created_at < now() - $1 * interval '1 millisecond' AND h.next_attempt_at <= now()
        ORDER BY h.id LIMIT $2`,
      [delayMs, limit],
    );
    return rows.map((r) => r.channelKey);
  }

  /** In the caller's transaction: whether this pod now holds the channel (until the commit). */
  async tryLockChannel(em: EntityManager, key: string): Promise<boolean> {
    const [{ locked }] = (await em.query(`SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked`, [CHANNEL_LOCK_CLASS, key])) as {
      locked: boolean;
    }[];
    return locked;
  }

  /** A channel's undone rows in sequence order. */
  async channelRows(em: EntityManager, key: string, limit: number): Promise<RecordedRow[]> {
    return em.query(`SELECT ${ROW_COLUMNS} FROM outbox WHERE channel_key = $1 ORDER BY channel_seq LIMIT $2`, [key, limit]);
  }

  /** Due rows without a channel, locked for this transaction; rows another pod holds are skipped. */
  async claimLoose(em: EntityManager, delayMs: number, limit: number): Promise<RecordedRow[]> {
    return em.query(
      `SELECT ${ROW_COLUMNS} FROM outbox
        WHERE channel_key IS NULL AND created_at < now() - $1 * interval '1 millisecond' AND next_attempt_at <= now()
        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [delayMs, limit],
    );
  }

  /** The rows of a channel before `seq` still waiting to be published, in sequence order. */
  async earlierRows(key: string, seq: string, limit: number): Promise<RecordedRow[]> {
    return this.ds.query(`SELECT ${ROW_COLUMNS} FROM outbox WHERE channel_key = $1 AND channel_seq < $2 ORDER BY channel_seq LIMIT $3`, [
      key,
      seq,
      limit,
    ]);
  }

  async isFirstOfChannel(key: string, seq: string): Promise<boolean> {
    const rows: { first: boolean }[] = await this.ds.query(
      `SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE channel_key = $1 AND channel_seq < $2) AS first`,
      [key, seq],
    );
    return rows[0].first;
  }

  /** Undone rows and the age of the oldest (0 when none): every tenant's, a system task. */
  async stats(): Promise<{ depth: number; oldestAgeSeconds: number }> {
    const rows = rowsOf<{ depth: number; age: number }>(
      await TenantScope.system('outbox stats', () =>
        this.ds.query(`SELECT count(*)::int AS depth, COALESCE(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age FROM outbox`),
      ),
    );
    return { depth: rows[0].depth, oldestAgeSeconds: Math.max(0, Math.round(rows[0].age * 1000) / 1000) };
  }
}
