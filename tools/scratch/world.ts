// Scratch worlds: the database and Redis key prefix a benchmark run or a test run owns, and their removal.
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/core/database/data-source.options';

export type WorldKind = 'test' | 'bench';

const env = process.env;
const LOCAL_PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/** Where each kind of run finds its servers (see bench/README.md and the README's testing section). */
const SERVERS: Record<WorldKind, { adminUrl: string; redisUrl: string }> = {
  test: {
    adminUrl: env.TEST_DATABASE_ADMIN_URL ?? LOCAL_PG_ADMIN_URL,
    redisUrl: env.TEST_REDIS_URL ?? LOCAL_REDIS_URL,
  },
  bench: {
    adminUrl: env.BENCH_PG_ADMIN_URL ?? env.BENCH_DATABASE_ADMIN_URL ?? LOCAL_PG_ADMIN_URL,
    redisUrl: env.BENCH_REDIS_URL ?? env.REDIS_URL ?? LOCAL_REDIS_URL,
  },
};

/** A database by name, on the server a kind of run uses. */
export interface ScratchDatabase {
  name: string;
  url: string;
  /** The server's maintenance database, through which this one is created and dropped. */
  adminUrl: string;
}

export function scratchDatabase(kind: WorldKind, name: string): ScratchDatabase {
  const { adminUrl } = SERVERS[kind];
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), adminUrl };
}

/** Creates the database; with `migrate`, also runs every migration (as a fresh deployment would). */
export async function createDatabase(db: ScratchDatabase, { migrate }: { migrate: boolean }): Promise<void> {
  await adminQuery(db, `CREATE DATABASE "${db.name}"`);
  if (!migrate) return;
  const ds = new DataSource(dataSourceOptions(db.url));
  await ds.initialize();
  try {
    await ds.runMigrations();
  } finally {
    await ds.destroy();
  }
}

/** Drops the database, closing whatever connections still use it. */
export function dropDatabase(db: ScratchDatabase): Promise<void> {
  return adminQuery(db, `DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`);
}

async function adminQuery(db: ScratchDatabase, sql: string): Promise<void> {
  const admin = new Client({ connectionString: db.adminUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/**
 * Deletes every key matching `pattern` (SCAN + UNLINK), e.g. a run's `tether-bench-<id>:*`, and
 * the same keys inside a Redis Cluster hash tag (`{tether-bench-<id>...}`, as the throttler
 * stores its counters).
 */
export async function deleteRedisKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  try {
    for (const match of [pattern, `{${pattern}`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        if (keys.length) await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * One run's world: a uniquely named database and a Redis key prefix. Every key and pub/sub channel
 * of the run starts with `<redisPrefix>:` or, for a part of the run that needs its own prefix
 * (a baseline server, a second mode), `<redisPrefix>-<part>`.
 */
export interface ScratchWorld {
  db: ScratchDatabase;
  redisUrl: string;
  redisPrefix: string;
}

/** A world with fresh names: `tether_<kind>_<label>_<id>` and `tether-<kind>-<label>-<id>`. */
export function newWorld(kind: WorldKind, label?: string): ScratchWorld {
  const id = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const parts = ['tether', kind, ...(label ? [label] : []), id];
  return existingWorld(kind, parts.join('_'), parts.join('-'));
}

/** A world whose names are already known (the test run's teardown reads them from the environment). */
export function existingWorld(kind: WorldKind, dbName: string, redisPrefix: string): ScratchWorld {
  return { db: scratchDatabase(kind, dbName), redisUrl: SERVERS[kind].redisUrl, redisPrefix };
}

/** Drops the database and deletes the Redis keys; each part runs even if the other fails, and says so. */
export async function removeWorld(world: ScratchWorld): Promise<void> {
  await dropDatabase(world.db).catch((err: Error) =>
    process.stderr.write(`cleanup: could not drop database ${world.db.name}: ${err.message}\n`),
  );
  for (const pattern of [`${world.redisPrefix}:*`, `${world.redisPrefix}-*`]) {
    await deleteRedisKeys(world.redisUrl, pattern).catch((err: Error) =>
      process.stderr.write(`cleanup: could not delete Redis keys ${pattern}: ${err.message}\n`),
    );
  }
}
