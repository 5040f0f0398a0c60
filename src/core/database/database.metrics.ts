import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { MetricsService } from '../metrics/metrics.service';
import { appPoolOf } from './row-level-security';

/** The counters node-postgres keeps on its pool (read at scrape time: no query, no Redis). */
interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max: number };
}

/**
 * The PostgreSQL connection pools of this process, as Prometheus sees them at each scrape, by
 * `pool`: `main` (one pool for everything), or, with a separate app login (DB_APP_USER), `app`
 * (tenant work, as the row-level-security role) and `owner` (migrations and system tasks).
 */
@Injectable()
export class DatabaseMetrics {
  constructor(metrics: MetricsService, dataSource: DataSource) {
    const registers = [metrics.registry];
    const pools = (): [string, PgPool][] => {
      const master = (dataSource.driver as PostgresDriver).master as Pool | undefined;
      if (!master) return [];
      const app = appPoolOf(master);
      return app
        ? [
            ['app', app as unknown as PgPool],
            ['owner', master as unknown as PgPool],
          ]
        : [['main', master as unknown as PgPool]];
    };
    new Gauge({
      name: 'tether_db_pool_connections',
      help: 'PostgreSQL connections of this process by pool and state: in_use (checked out by a query or transaction) or idle',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        for (const [pool, p] of pools()) {
          this.set({ pool, state: 'in_use' }, p.totalCount - p.idleCount);
          this.set({ pool, state: 'idle' }, p.idleCount);
        }
      },
    });
    new Gauge({
      name: 'tether_db_pool_waiting',
      help: 'Queries waiting for a free PostgreSQL connection, by pool (the pool is exhausted while this is above 0)',
      labelNames: ['pool'],
      registers,
      collect() {
        for (const [pool, p] of pools()) this.set({ pool }, p.waitingCount);
      },
    });
    new Gauge({
      name: 'tether_db_pool_max',
      help: 'Most PostgreSQL connections each pool of this process opens (DB_POOL_SIZE)',
      labelNames: ['pool'],
      registers,
      collect() {
        for (const [pool, p] of pools()) this.set({ pool }, p.options.max);
      },
    });
  }
}
