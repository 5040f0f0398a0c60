import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { Position } from './sync.cursor';
import type { CompiledCollection, ConflictStrategy } from './sync.registry';

/** A pg Pool or client: what runs a named statement. */
interface Queryable {
  query<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>>;
}

export interface PageRow {
  x: string;
  id: string;
  kind: 'u' | 'd' | 's';
  doc: string | null;
}

export interface RawPage {
  watermark: string;
  purgedThrough: string | null;
  rows: PageRow[];
}

export interface BatchItem {
  offlineId: string;
  hash: string;
  data: Record<string, unknown>;
}

export interface HandlerResult {
  status: 'created' | 'updated' | 'duplicate' | 'conflict' | 'rejected';
  originalStatus?: 'created' | 'updated';
  id?: string;
  serverVersion?: number;
  server?: null;
  error?: { code: string; message: string; retryable?: boolean };
}

/** SQL of the sync module: raw statements, no entity hydration (pages are built as JSON text in PostgreSQL). */
@Injectable()
export class SyncRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * One page, as a named prepared statement on the connection (planning the statement costs more
   * than running it), on a pooled connection or the caller's transaction.
   */
  async page(c: CompiledCollection, tenantId: string, userId: string, from: Position, limit: number, em?: EntityManager): Promise<RawPage> {
    const base = from.base === undefined ? '0' : from.base;
    const query = {
      name: `tether_sync_page_${c.name}`,
      text: c.pageSql,
      values: [tenantId, userId, from.x, from.id, limit + 1, base, c.name],
    };
    const connection: Queryable = em ? await em.queryRunner!.connect() : (this.db.driver as PostgresDriver).master;
    const { rows } = await connection.query<PageRow & { wm: string; purged: string | null }>(query);
    return {
      watermark: rows[0].wm,
      purgedThrough: rows[0].purged,
      rows: rows[0].x === null ? [] : rows,
    };
  }

  /** Inside one REPEATABLE READ transaction: every page sees the same snapshot (GET /sync/changes). */
  snapshot<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction('REPEATABLE READ', work);
  }

  async docsById(c: CompiledCollection, tenantId: string, ids: string[]): Promise<Map<string, string>> {
    if (!ids.length) return new Map();
    const rows: { id: string; doc: string }[] = await this.db.query(c.docsSql, [tenantId, ids]);
    return new Map(rows.map((r) => [r.id, r.doc]));
  }

  /**
   * Remembers where a pull ended under the timestamp it answered (for a later `updatedAfter`).
   * Committed without waiting for the WAL flush: a mark lost in a crash only makes a later lookup
   * fall back to an earlier mark, which re-delivers and never skips.
   */
  async addResumeMark(collection: string, at: Date, p: Position): Promise<void> {
    await this.db.query(
      `WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
       INSERT INTO sync_resume_marks (collection, at, x, row_id) SELECT $1, $2, $3, $4 FROM async ON CONFLICT DO NOTHING`,
      [collection, at, p.x, p.id],
    );
  }

  /**
   * The position for `updatedAfter`: the latest mark at or before that time (several in the same
   * millisecond: the earliest position, which re-delivers rather than skips).
   */
  async resumeMark(collection: string, at: Date): Promise<Position | undefined> {
    const rows: { x: string; row_id: string }[] = await this.db.query(
      `SELECT x::text AS x, row_id::text AS row_id FROM sync_resume_marks
        WHERE collection = $1 AND at <= $2 ORDER BY at DESC, x, row_id LIMIT 1`,
      [collection, at],
    );
    return rows[0] && { x: rows[0].x, id: rows[0].row_id };
  }

  /** One statement (in the caller's transaction, if any): each item in its own savepoint inside sync_apply_batch(). */
  async applyBatch(
    tenantId: string,
    userId: string,
    kind: string,
    handler: string,
    strategy: ConflictStrategy,
    items: BatchItem[],
    em?: EntityManager,
  ): Promise<HandlerResult[]> {
    const rows: { result: HandlerResult }[] = await (em ?? this.db).query(
      `SELECT b.result FROM sync_apply_batch($1, $2, $3, $4::regproc, $5, $6::jsonb) b ORDER BY b.ord`,
      [tenantId, userId, kind, handler, strategy, JSON.stringify(items)],
    );
    return rows.map((r) => r.result);
  }

  /**
   * Hard-deletes up to `batch` tombstones of `table` older than `cutoff`, in its own short
   * transaction (a long one would hold back every feed's watermark), and raises the purge mark of
   * each collection the table feeds. Returns how many rows went.
   */
  async purgeTombstones(table: string, collections: string[], cutoff: Date, batch: number): Promise<number> {
    const rows: { n: number }[] = await this.db.query(
      `WITH gone AS (
         DELETE FROM ${table} WHERE deleted_at < $1
            AND ctid = ANY (ARRAY(SELECT ctid FROM ${table} WHERE deleted_at < $1 LIMIT $2))
         RETURNING sync_xid),
       top AS (SELECT max(sync_xid) AS x, count(*)::int AS n FROM gone),
       marked AS (
         INSERT INTO sync_purge_marks (collection, purged_through_xid, purged_at)
         SELECT c, top.x, now() FROM top, unnest($3::text[]) c WHERE top.n > 0
         ON CONFLICT (collection) DO UPDATE
           SET purged_through_xid = GREATEST(sync_purge_marks.purged_through_xid, EXCLUDED.purged_through_xid),
               purged_at = EXCLUDED.purged_at)
       SELECT n FROM top`,
      [cutoff, batch, collections],
    );
    return rows[0]?.n ?? 0;
  }

  /** Ledger entries and resume marks older than the retention, in batches. */
  async purgeOld(table: 'sync_mutations' | 'sync_resume_marks', cutoff: Date, batch: number): Promise<number> {
    const column = table === 'sync_mutations' ? 'created_at' : 'at';
    const rows: { n: number }[] = await this.db.query(
      `WITH gone AS (DELETE FROM ${table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${table} WHERE ${column} < $1 LIMIT $2)) RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [cutoff, batch],
    );
    return rows[0]?.n ?? 0;
  }

  /** Runs `work` only if no other pod holds the purge lock (session advisory lock on a dedicated connection). */
  async withPurgeLock(work: () => Promise<void>): Promise<boolean> {
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = await runner.query(`SELECT pg_try_advisory_lock(hashtext('tether:sync:purge')) AS locked`);
      if (!locked) return false;
      try {
        await work();
      } finally {
        await runner.query(`SELECT pg_advisory_unlock(hashtext('tether:sync:purge'))`);
      }
      return true;
    } finally {
      await runner.release();
    }
  }
}
