import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../../core/metrics/metrics.service';
import type { BulkItemResult } from './sync-mutation.service';

/** Prometheus metrics of offline sync, on the app's registry: what pulls serve and what bulk writes become. */
@Injectable()
export class SyncMetrics {
  readonly pulls: Counter<'collection'>;
  readonly rows: Counter<'collection' | 'kind'>;
  readonly resets: Counter<'collection'>;
  readonly bulkResults: Counter<'kind' | 'status' | 'reason'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.pulls = new Counter({
      name: 'tether_sync_pulls_total',
      help: 'Pages of a collection served (GET /sync/<collection>, and each collection of a GET /sync/changes)',
      labelNames: ['collection'],
      registers,
    });
    this.rows = new Counter({
      name: 'tether_sync_rows_served_total',
      help: 'Rows served by sync pulls, by collection and kind (upsert, or delete: a tombstone id)',
      labelNames: ['collection', 'kind'],
      registers,
    });
    this.resets = new Counter({
      name: 'tether_sync_resets_total',
      help: 'Pulls answered 410 sync_reset_required (a cursor older than the retention), by collection',
      labelNames: ['collection'],
      registers,
    });
    this.bulkResults = new Counter({
      name: 'tether_sync_bulk_results_total',
      help: 'Bulk mutation items by kind, status (created, updated, duplicate, conflict, rejected) and reason (the error code of a conflict or rejection, else none)',
      labelNames: ['kind', 'status', 'reason'],
      registers,
    });
  }

  countBulk(kind: string, results: BulkItemResult[]): void {
    for (const r of results) if (r) this.bulkResults.inc({ kind, status: r.status, reason: r.error?.code ?? 'none' });
  }
}
