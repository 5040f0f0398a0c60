import request from 'supertest';
import type { QueryRunner } from 'typeorm';
import { DataSource } from 'typeorm';
import { MetricsService } from '../src/core/metrics/metrics.service';
import { RedisService } from '../src/core/redis/redis.service';
import { PrivateRedis, startPrivateRedis } from '../tools/scratch';
import { caller, freshTenant } from './support/sync';
import { startTestApp, TestApp } from './support/test-app';

/** The value of one series in Prometheus text: `name` with (at least) these labels; undefined if absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('/metrics for operations: sync, bulk, database pool, Redis, queues', () => {
  let t: TestApp;
  const scrape = async () => (await request(t.url).get('/metrics').expect(200)).text;

  beforeAll(async () => {
    t = await startTestApp({ DB_POOL_SIZE: '4' });
  });
  afterAll(() => t?.close());

  it('counts sync pulls and rows served per collection, and bulk results by status and reason', async () => {
    const tid = freshTenant('metrics');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const member = await caller(t, tid, 'mia');
    const event = (await admin.send('POST', '/events', { title: 'Dinner', startsAt: '2030-01-01T18:00:00Z' })).body;
    await admin.send('POST', '/events', { title: 'Lunch', startsAt: '2030-01-02T12:00:00Z' });

    expect((await member.get('/sync/events')).status).toBe(200);
    expect((await member.get('/sync/changes', { collections: 'events,rsvps' })).status).toBe(200);
    const rsvps = (items: unknown[]) =>
      member.send('POST', '/sync/events/rsvp/bulk', { rsvps: items, conflictResolution: 'fail-on-conflict' });
    expect((await rsvps([{ offlineId: 'r1', eventId: event.id, status: 'going' }])).body.results[0].status).toBe('created');
    const mixed = await rsvps([
      { offlineId: 'r2', eventId: event.id, status: 'maybe', baseVersion: 7 },
      { offlineId: 'r3', eventId: event.id, status: 'sometimes' },
      { offlineId: 'r1', eventId: event.id, status: 'going' },
    ]);
    expect(mixed.body.results.map((r: { status: string }) => r.status)).toEqual(['conflict', 'rejected', 'duplicate']);

    const text = await scrape();
    expect(sample(text, 'tether_sync_pulls_total', { collection: 'events' })).toBe(2);
    expect(sample(text, 'tether_sync_pulls_total', { collection: 'rsvps' })).toBe(1);
    expect(sample(text, 'tether_sync_rows_served_total', { collection: 'events', kind: 'upsert' })).toBe(4);
    expect(sample(text, 'tether_sync_bulk_results_total', { kind: 'rsvps', status: 'created', reason: 'none' })).toBe(1);
    expect(sample(text, 'tether_sync_bulk_results_total', { kind: 'rsvps', status: 'conflict', reason: 'version_mismatch' })).toBe(1);
    expect(sample(text, 'tether_sync_bulk_results_total', { kind: 'rsvps', status: 'rejected', reason: 'validation_failed' })).toBe(1);
    expect(sample(text, 'tether_sync_bulk_results_total', { kind: 'rsvps', status: 'duplicate', reason: 'none' })).toBe(1);
  });

  it('reports the database pool: in use, idle, waiting and its size', async () => {
    const dataSource = t.app.get(DataSource);
    const registry = t.app.get(MetricsService).registry;
    // Read without a scrape: a scrape's outbox gauges query PostgreSQL, which waits for the pool too.
    const pool = async () => {
      const text =
        (await registry.getSingleMetricAsString('tether_db_pool_connections')) +
        '\n' +
        (await registry.getSingleMetricAsString('tether_db_pool_waiting'));
      return {
        inUse: sample(text, 'tether_db_pool_connections', { pool: 'app', state: 'in_use' }),
        waiting: sample(text, 'tether_db_pool_waiting', { pool: 'app' }),
      };
    };
    // The test world logs tenant work in as the app role (DB_APP_USER): its pool is `app`, system tasks' `owner`.
    const scraped = await scrape();
    expect(sample(scraped, 'tether_db_pool_max', { pool: 'app' })).toBe(4);
    expect(sample(scraped, 'tether_db_pool_max', { pool: 'owner' })).toBe(4);
    const held: QueryRunner[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const runner = dataSource.createQueryRunner();
        await runner.connect();
        held.push(runner);
      }
      const waiting = dataSource.query('SELECT 1');
      await new Promise((r) => setTimeout(r, 50));
      expect(await pool()).toEqual({ inUse: 4, waiting: 1 });
      await held.pop()!.release();
      await waiting;
      expect((await pool()).waiting).toBe(0);
    } finally {
      await Promise.all(held.map((r) => r.release()));
    }
  });

  it('times Redis commands per connection and counts their errors', async () => {
    const redis = t.app.get(RedisService);
    const before = await scrape();
    const timed = sample(before, 'tether_redis_command_duration_seconds_count', { connection: 'commands' }) ?? 0;
    expect(timed).toBeGreaterThan(0);
    const key = redis.key('metrics-probe');
    await redis.client.set(key, 'not a number', 'EX', 60);
    await expect(redis.client.incr(key)).rejects.toThrow(/not an integer/);
    const after = await scrape();
    expect(sample(after, 'tether_redis_command_duration_seconds_count', { connection: 'commands' })).toBeGreaterThanOrEqual(timed + 1);
    expect(sample(after, 'tether_redis_command_errors_total', { connection: 'commands', kind: 'reply' })).toBe(
      (sample(before, 'tether_redis_command_errors_total', { connection: 'commands', kind: 'reply' }) ?? 0) + 1,
    );
    const count = sample(after, 'tether_redis_command_duration_seconds_count', { connection: 'commands' });
    expect(sample(after, 'tether_redis_command_duration_seconds_bucket', { connection: 'commands', le: '+Inf' })).toBe(count);
    expect(sample(after, 'tether_redis_command_duration_seconds_bucket', { connection: 'commands', le: '2.5' })).toBeLessThanOrEqual(
      count!,
    );
    // Few series: one per connection role, never per command.
    const series = after.split('\n').filter((l) => l.startsWith('tether_redis_command_duration_seconds_count'));
    expect(series.length).toBeLessThan(10);
  });

  it('gives queue depths per state as gauges, read from Redis at most once per couple of seconds', async () => {
    const first = await scrape();
    for (const queue of ['devices', 'notifications', 'push-delivery'])
      for (const state of ['waiting', 'active', 'delayed', 'failed', 'completed'])
        expect(sample(first, 'tether_queue_jobs', { queue, state })).toBeGreaterThanOrEqual(0);
    const reads = (text: string) => sample(text, 'tether_redis_command_duration_seconds_count', { connection: 'bullmq:queues' }) ?? 0;
    const [a, b] = [await scrape(), await scrape()];
    // Back to back, the second scrape reuses the first's counts: no more queue reads.
    expect(reads(b)).toBe(reads(a));
  });
});

describe('/metrics while Redis is away', () => {
  let redis: PrivateRedis;
  let t: TestApp;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    t = await startTestApp({ TETHER_ROLE: 'api', REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.destroy();
  });

  it('still answers, quickly, with -1 queue depths and the failures counted', async () => {
    await redis.stop();
    await new Promise((r) => setTimeout(r, 2100)); // past the queue counts' cache
    const started = Date.now();
    const text = (await request(t.url).get('/metrics').expect(200)).text;
    expect(Date.now() - started).toBeLessThan(2500);
    expect(sample(text, 'tether_queue_jobs', { queue: 'devices', state: 'waiting' })).toBe(-1);
    expect(sample(text, 'tether_db_pool_connections', { state: 'idle' })).toBeGreaterThanOrEqual(0);
    // A command that cannot reach Redis counts as unavailable; ioredis's own CLIENT SETINFO, which
    // this Redis (7.0) refuses at every connect, is not counted as an error.
    const unavailable = (text: string) =>
      sample(text, 'tether_redis_command_errors_total', { connection: 'commands', kind: 'unavailable' }) ?? 0;
    await expect(t.app.get(RedisService).client.get('anything')).rejects.toThrow();
    expect(unavailable((await request(t.url).get('/metrics').expect(200)).text)).toBe(unavailable(text) + 1);
    expect(sample(text, 'tether_redis_command_errors_total', { kind: 'reply' })).toBeUndefined();
  });
});
