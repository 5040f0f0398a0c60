import { Injectable, Logger } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { createHash } from 'node:crypto';
import type { AuthUser } from '../../core/auth/auth-user';
import { OutboxService } from '../../core/outbox';
import { DomainError } from '../../core/http/domain-error';
import { flattenValidationErrors } from '../../core/http/validation';
import { SyncMetrics } from './sync.metrics';
import { AppliedMutation, ConflictStrategy, SyncRegistry } from './sync.registry';
import { BatchItem, HandlerResult, SyncRepository } from './sync.repository';

export const MAX_BULK_ITEMS = 500;

export interface BulkItemResult {
  offlineId: string | null;
  status: 'created' | 'updated' | 'duplicate' | 'conflict' | 'rejected';
  /** For a duplicate: what the first application did. */
  originalStatus?: 'created' | 'updated';
  id?: string;
  serverVersion?: number;
  /** On conflict: the server's current row (null when it no longer exists). */
  server?: Record<string, unknown> | null;
  error?: { code: string; message: string; retryable?: boolean; details?: unknown[] };
}

/**
 * Applies a batch of offline mutations: per item, validation and the domain's checks, then one
 * statement that runs every item in its own savepoint behind the idempotency ledger
 * (sync_apply_batch). Results come back in request order; one bad item never fails the others.
 */
@Injectable()
export class SyncMutationService {
  private readonly logger = new Logger(SyncMutationService.name);

  constructor(
    private readonly registry: SyncRegistry,
    private readonly repo: SyncRepository,
    private readonly outbox: OutboxService,
    private readonly metrics: SyncMetrics,
  ) {}

  async apply(kind: string, caller: AuthUser, strategy: ConflictStrategy, rawItems: unknown[]): Promise<{ results: BulkItemResult[] }> {
    const m = this.registry.mutation(kind);
    if (rawItems.length > MAX_BULK_ITEMS)
      throw new DomainError('payload_too_large', `At most ${MAX_BULK_ITEMS} items per request; split the batch`, 413);

    const results: BulkItemResult[] = new Array(rawItems.length);
    const batch: (BatchItem & { index: number; item: object })[] = [];
    rawItems.forEach((raw, index) => {
      const given = (raw as { offlineId?: unknown } | null)?.offlineId;
      const offlineId = typeof given === 'string' ? given : null;
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
        results[index] = reject(offlineId, 'validation_failed', 'Each item must be an object');
        return;
      }
      const item = plainToInstance(m.item, raw);
      const errors = validateSync(item, { whitelist: true, forbidNonWhitelisted: true });
      if (errors.length) {
        results[index] = reject(offlineId, 'validation_failed', 'The item is invalid', flattenValidationErrors(errors));
        return;
      }
      const prepared = m.prepare(item, caller);
      if ('error' in prepared) {
        results[index] = reject(offlineId, prepared.error.code, prepared.error.message);
        return;
      }
      // The payload's fingerprint: a replay must match it, else the offlineId was reused.
      const hash = createHash('sha256')
        .update(`${kind}\n${JSON.stringify(prepared.data)}`)
        .digest('hex');
      batch.push({ index, item, offlineId: offlineId!, hash, data: prepared.data });
    });
    if (!batch.length) {
      this.metrics.countBulk(kind, results);
      return { results };
    }

    // The items and the events they cause (the domain's `record`) commit together; the events go out after.
    const handled = await this.outbox.transaction(async (tx) => {
      const rows = await this.repo.applyBatch(
        caller.tenantId,
        caller.userId,
        kind,
        m.handler,
        strategy,
        batch.map(({ offlineId, hash, data }) => ({ offlineId, hash, data })),
        tx.em,
      );
      const applied = rows.flatMap((r, j): AppliedMutation<object>[] =>
        r.status === 'created' || r.status === 'updated' ? [{ item: batch[j].item, id: r.id!, status: r.status }] : [],
      );
      if (applied.length && m.record) await m.record(tx, caller, applied);
      return rows;
    });
    handled.forEach((r, j) => {
      const { index, offlineId } = batch[j];
      results[index] = toResult(offlineId, r);
      if (r.error?.code === 'item_failed') this.logger.warn(`${kind} item ${offlineId} failed: ${r.error.message}`);
    });

    // The server side of each conflict, as the feed would serve it.
    const conflicted = results.filter((r) => r.status === 'conflict' && r.id);
    if (conflicted.length) {
      const docs = await this.repo.docsById(this.registry.collection(m.collection), caller.tenantId, [
        ...new Set(conflicted.map((r) => r.id!)),
      ]);
      for (const r of conflicted) {
        const doc = docs.get(r.id!);
        r.server = doc ? (JSON.parse(doc) as Record<string, unknown>) : null;
      }
    }
    this.metrics.countBulk(kind, results);
    return { results };
  }
}

function reject(offlineId: string | null, code: string, message: string, details?: unknown[]): BulkItemResult {
  return { offlineId, status: 'rejected', error: details ? { code, message, details } : { code, message } };
}

function toResult(offlineId: string, r: HandlerResult): BulkItemResult {
  const out: BulkItemResult = { offlineId, status: r.status };
  if (r.originalStatus) out.originalStatus = r.originalStatus;
  if (r.id) out.id = r.id;
  if (r.serverVersion !== undefined) out.serverVersion = r.serverVersion;
  if (r.status === 'conflict') out.server = null;
  if (r.error) out.error = r.error;
  return out;
}
