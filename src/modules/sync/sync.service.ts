import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import type { AuthUser } from '../../core/auth/auth-user';
import { TenantScope } from '../../core/database/tenant-scope';
import { DomainError, validationFailed } from '../../core/http/domain-error';
import {
  decodeChangesCursor,
  decodeCollectionCursor,
  encodeChangesCursor,
  encodeCollectionCursor,
  initialPosition,
  needsReset,
  nextPosition,
  NIL_ID,
  Position,
} from './sync.cursor';
import { SyncMetrics } from './sync.metrics';
import { CompiledCollection, SyncRegistry } from './sync.registry';
import { SyncRepository } from './sync.repository';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
const PURGE_BATCH = 5000;

export interface PullQuery {
  cursor?: string;
  updatedAfter?: string;
  limit?: number;
}

interface Page {
  docs: string[];
  deleted: string[];
  hasMore: boolean;
  next: Position;
}

export interface PurgeReport {
  tombstones: Record<string, number>;
  ledger: number;
  resumeMarks: number;
}

/**
 * The change feed. Pages are keyed by (transaction id, row id) below the snapshot watermark, so a
 * client that follows `nextCursor` never misses a write, however writers interleave (see sync.sql.ts).
 * Responses are assembled as JSON text: PostgreSQL builds each document, Node only joins them.
 */
@Injectable()
export class SyncService {
  private readonly logger = new Logger(SyncService.name);

  constructor(
    private readonly registry: SyncRegistry,
    private readonly repo: SyncRepository,
    private readonly config: AppConfig,
    private readonly metrics: SyncMetrics,
  ) {}

  /** GET /sync/<collection>: `{<collection>: [...], deleted, nextCursor, hasMore, timestamp}` as JSON text. */
  async pull(caller: AuthUser, name: string, query: PullQuery): Promise<string> {
    const c = this.registry.collection(name);
    await this.registry.prepareRead(caller);
    if (query.cursor && query.updatedAfter)
      throw validationFailed(
        [{ field: 'cursor', messages: ['cursor and updatedAfter are mutually exclusive'] }],
        'Pass either cursor or updatedAfter, not both',
      );
    let from: Position;
    if (query.cursor) from = decodeCollectionCursor(query.cursor, c.name, caller);
    else if (query.updatedAfter)
      // No mark that early: everything is sent again (unless tombstones were purged since: reset).
      from = (await this.repo.resumeMark(c.name, new Date(query.updatedAfter))) ?? { x: '0', id: NIL_ID };
    else from = initialPosition();

    const page = await this.page(c, caller, from, query.limit ?? DEFAULT_PAGE_SIZE);
    const timestamp = new Date();
    // Clients that keep only `timestamp` (the church community app's) resume exactly here with updatedAfter=timestamp.
    if (!query.cursor) await this.repo.addResumeMark(c.name, timestamp, page.next);
    const cursor = encodeCollectionCursor(c.name, page.next, caller);
    return (
      `{${JSON.stringify(c.name)}:[${page.docs.join(',')}],"deleted":${JSON.stringify(page.deleted)},` +
      `"nextCursor":${JSON.stringify(cursor)},"hasMore":${page.hasMore},"timestamp":"${timestamp.toISOString()}"}`
    );
  }

  /**
   * GET /sync/changes: several collections in one pull, from one snapshot.
   * `{events: [...], members: [...], deleted: {events: [...], ...}, nextCursor, hasMore, timestamp}`.
   */
  async changes(caller: AuthUser, names: string[] | undefined, cursor: string | undefined, limit = DEFAULT_PAGE_SIZE): Promise<string> {
    const collections = (names?.length ? [...new Set(names)] : this.registry.collectionNames()).map((n) => this.registry.collection(n));
    await this.registry.prepareRead(caller);
    const positions = cursor ? decodeChangesCursor(cursor, caller) : {};
    const pages = await this.repo.snapshot(async (em) => {
      const out: [CompiledCollection, Page][] = [];
      for (const c of collections) out.push([c, await this.page(c, caller, positions[c.name] ?? initialPosition(), limit, em)]);
      return out;
    });
    for (const [c, page] of pages) positions[c.name] = page.next;
    const parts = pages.map(([c, page]) => `${JSON.stringify(c.name)}:[${page.docs.join(',')}]`);
    const deleted = pages.map(([c, page]) => `${JSON.stringify(c.name)}:${JSON.stringify(page.deleted)}`);
    return (
      `{${parts.join(',')},"deleted":{${deleted.join(',')}},"nextCursor":${JSON.stringify(encodeChangesCursor(positions, caller))},` +
      `"hasMore":${pages.some(([, p]) => p.hasMore)},"timestamp":"${new Date().toISOString()}"}`
    );
  }

  private async page(c: CompiledCollection, caller: AuthUser, from: Position, limit: number, em?: EntityManager): Promise<Page> {
    const raw = await this.repo.page(c, caller.tenantId, caller.userId, from, limit, em);
    if (needsReset(from, raw.purgedThrough)) {
      this.metrics.resets.inc({ collection: c.name });
      throw new DomainError(
        'sync_reset_required',
        `This ${c.name} cursor is older than the tombstone retention: drop the local ${c.name} and sync again without a cursor`,
        410,
        [{ collection: c.name }],
      );
    }
    const hasMore = raw.rows.length > limit;
    const rows = hasMore ? raw.rows.slice(0, limit) : raw.rows;
    const docs: string[] = [];
    const deleted: string[] = [];
    const seen = new Set<string>();
    for (const row of rows) {
      // An access change and the row's own change can both land in one page.
      if (row.kind === 's' || seen.has(row.id)) continue;
      seen.add(row.id);
      if (row.kind === 'u') docs.push(row.doc!);
      else deleted.push(row.id);
    }
    this.metrics.pulls.inc({ collection: c.name });
    if (docs.length) this.metrics.rows.inc({ collection: c.name, kind: 'upsert' }, docs.length);
    if (deleted.length) this.metrics.rows.inc({ collection: c.name, kind: 'delete' }, deleted.length);
    const last = rows[rows.length - 1];
    const next = nextPosition(from, { watermark: raw.watermark, lastKey: hasMore ? { x: last.x, id: last.id } : undefined });
    return { docs, deleted, hasMore, next };
  }

  /**
   * Hard-deletes tombstones older than the retention (recording per collection the highest
   * transaction id purged: older cursors get 410), then old ledger entries and resume marks.
   * Run by the periodic purge job (SyncProcessor). One pod at a time: a run that finds another
   * still going (a stalled job taken over, a manual call) skips its turn and returns null.
   * Every tenant's rows: a system task (row-level security).
   */
  purge(now = new Date()): Promise<PurgeReport | null> {
    return TenantScope.system('sync purge', () => this.purgeAll(now));
  }

  private async purgeAll(now: Date): Promise<PurgeReport | null> {
    const cutoff = new Date(now.getTime() - this.config.sync.retentionMs);
    const report: PurgeReport = { tombstones: {}, ledger: 0, resumeMarks: 0 };
    // Which collections each table feeds (a table of access rows feeds the collection it opens).
    const feeds = new Map<string, string[]>();
    for (const c of this.registry.allCollections())
      for (const table of c.tombstoneTables) feeds.set(table, [...(feeds.get(table) ?? []), c.name]);
    const ran = await this.repo.withPurgeLock(async () => {
      for (const [table, collections] of feeds) {
        let total = 0;
        try {
          for (let n = PURGE_BATCH; n === PURGE_BATCH; total += n)
            n = await this.repo.purgeTombstones(table, collections, cutoff, PURGE_BATCH);
        } catch (err) {
          // e.g. a tombstone still referenced by a younger row: it goes in a later run.
          this.logger.warn(`purge of ${table} stopped: ${(err as Error).message}`);
        }
        report.tombstones[table] = total;
      }
      for (let n = PURGE_BATCH; n === PURGE_BATCH; report.ledger += n) n = await this.repo.purgeOld('sync_mutations', cutoff, PURGE_BATCH);
      for (let n = PURGE_BATCH; n === PURGE_BATCH; report.resumeMarks += n)
        n = await this.repo.purgeOld('sync_resume_marks', cutoff, PURGE_BATCH);
    });
    if (!ran) return null;
    this.logger.log(`purged ${JSON.stringify(report)}`);
    return report;
  }
}
