import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { MetricsService } from '../metrics/metrics.service';

/** The counters node-postgres keeps on its pool (read at scrape time: no query, no Redis). */
interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max: number };
}

/** The PostgreSQL connection pool of this process, as Prometheus sees it at each scrape. */
@Injectable()
export class DatabaseMetrics {
  constructor(metrics: MetricsService, dataSource: DataSource) {
    const registers = [metrics.registry];
    const pool = () => (dataSource.driver as PostgresDriver).master as PgPool | undefined;
    new Gauge({
      name: 'tether_db_pool_connections',
      help: 'PostgreSQL connections of this process by state: in_use (checked out by a query or transaction) or idle',
      labelNames: ['state'],
      registers,
      collect() {
        const p = pool();
        this.set({ state: 'in_use' }, p ? p.totalCount - p.idleCount : 0);
        this.set({ state: 'idle' }, p?.idleCount ?? 0);
      },
    });
    new Gauge({
      name: 'tether_db_pool_waiting',
      help: 'Queries waiting for a free PostgreSQL connection (the pool is exhausted while this is above 0)',
      registers,
      collect() {
        this.set(pool()?.waitingCount ?? 0);
      },
    });
    new Gauge({
      name: 'tether_db_pool_max',
      help: 'Most PostgreSQL connections this process opens (DB_POOL_SIZE)',
      registers,
      collect() {
        this.set(pool()?.options.max ?? 0);
      },
    });
  }
}
