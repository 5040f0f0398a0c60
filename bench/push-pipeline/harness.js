/* Child process of run.ts, run with plain `node` (Nest's ESM packages need Node's own loader, which
 * tsx replaces): one step of the push pipeline benchmark per invocation, result on the last line. */
/* global require, setTimeout, clearTimeout, setInterval, clearInterval, performance */
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict';
require('reflect-metadata');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { Queue, Worker } = require('bullmq');
const Redis = require('ioredis');
const { Pool } = require('pg');

const DIST = join(__dirname, '..', '..', 'dist');
const env = process.env;
const DEVICES = Number(env.BENCH_DEVICES);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY);
const RETRY_BASE_MS = Number(env.BENCH_RETRY_BASE_MS);
const DB_URL = env.BENCH_DATABASE_URL;
const REDIS_URL = env.BENCH_REDIS_URL;
const PREFIX = env.BENCH_PREFIX;
const TENANT = 'bench';
/** A small tenant both sides send to first, so that neither is measured cold (pools, Lua scripts, JIT). */
const WARMUP_TENANT = 'warmup';
const WARMUP_DEVICES = 2000;
const SEND_MS = 20;
const TRANSIENT_RATE = 0.005;
const BATCH = 500;
/** BENCH_CPU_PROF=<dir>: a V8 CPU profile of the measured send only (not boot or warm-up), <dir>/<step>.cpuprofile. */
const PROFILE_DIR = env.BENCH_CPU_PROF;
/** Longest wait for one send's tokens (BENCH_TIMEOUT_MS). */
const TIMEOUT_MS = Number(env.BENCH_TIMEOUT_MS ?? 60_000);

/** CPU seconds used so far by every process of this name (postgres backends, redis-server), from /proc. */
function cpuOf(comm) {
  const { readdirSync, readFileSync } = require('node:fs');
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== comm) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / 100;
}

/** Runs `fn`, profiled when PROFILE_DIR is set; with BENCH_DEBUG, prints the CPU each process spent on it. */
async function measured(step, fn) {
  if (env.BENCH_DEBUG) {
    const before = [process.cpuUsage(), cpuOf('postgres'), cpuOf('redis-server')];
    const lag = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const result = await profiled(step, fn);
    lag.disable();
    const node = process.cpuUsage(before[0]);
    console.error(
      `${step} CPU: node ${((node.user + node.system) / 1e6).toFixed(2)} s, postgres ${(cpuOf('postgres') - before[1]).toFixed(2)} s, ` +
        `redis ${(cpuOf('redis-server') - before[2]).toFixed(2)} s; event loop delay p50 ${(lag.percentile(50) / 1e6).toFixed(0)} ms, ` +
        `p99 ${(lag.percentile(99) / 1e6).toFixed(0)} ms, max ${(lag.max / 1e6).toFixed(0)} ms`,
    );
    return result;
  }
  return profiled(step, fn);
}

async function profiled(step, fn) {
  if (!PROFILE_DIR) return fn();
  const { Session } = require('node:inspector');
  const { writeFileSync, mkdirSync } = require('node:fs');
  const session = new Session();
  session.connect();
  const post = (method, params) => new Promise((ok, fail) => session.post(method, params, (e, r) => (e ? fail(e) : ok(r))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  const result = await fn();
  const { profile } = await post('Profiler.stop');
  mkdirSync(PROFILE_DIR, { recursive: true });
  writeFileSync(join(PROFILE_DIR, `${step}.cpuprofile`), JSON.stringify(profile));
  session.disconnect();
  return result;
}

/** A seeded PRNG, so every run draws the same transient errors. */
function mulberry32(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FCM stand-in, a PushSender: 20 ms per call of up to 500 tokens, 0.5% of tokens fail transiently. */
class SimulatedFcm {
  constructor() {
    this.provider = 'fcm';
    this.maxBatch = 500;
    this.description = 'simulated FCM';
    this.delivered = 0;
    this.calls = 0;
    this.transient = 0;
    this.random = mulberry32(42);
    this.waiter = undefined;
  }
  reset() {
    this.delivered = this.calls = this.transient = 0;
  }
  until(target) {
    // BENCH_DEBUG: thousands of tokens delivered after each 100 ms, to see where a side falls behind.
    const progress = [];
    const timer = env.BENCH_DEBUG && setInterval(() => progress.push(Math.round(this.delivered / 1000)), 100);
    // A pipeline that stops delivering (a failing fan-out retrying for minutes) fails the step
    // instead of holding the machine's benchmark lock.
    let deadline;
    return new Promise((resolve, reject) => {
      this.waiter = { target, resolve };
      deadline = setTimeout(() => reject(new Error(`${this.delivered} of ${target} tokens delivered after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      this.check();
    }).finally(() => {
      clearTimeout(deadline);
      if (timer) {
        clearInterval(timer);
        if (target > WARMUP_DEVICES) console.error(`delivered (thousands) every 100 ms: ${progress.join(' ')}`);
      }
    });
  }
  async send(_payload, targets) {
    this.calls++;
    await new Promise((r) => setTimeout(r, SEND_MS));
    const outcomes = targets.map(() => {
      if (this.random() < TRANSIENT_RATE) {
        this.transient++;
        return { ok: false, kind: 'retry', code: 'messaging/server-unavailable', message: 'simulated' };
      }
      this.delivered++;
      return { ok: true };
    });
    this.check();
    return outcomes;
  }
  async sendToTopic() {
    return { ok: true };
  }
  async subscribe(_topic, tokens) {
    return tokens.map(() => ({ ok: true }));
  }
  async unsubscribe(_topic, tokens) {
    return tokens.map(() => ({ ok: true }));
  }
  check() {
    if (this.waiter && this.delivered >= this.waiter.target) {
      this.waiter.resolve();
      this.waiter = undefined;
    }
  }
}

async function prepare() {
  const { DataSource } = require('typeorm');
  const { dataSourceOptions } = require(join(DIST, 'src/core/database/data-source.options'));
  const ds = new DataSource(dataSourceOptions(DB_URL));
  await ds.initialize();
  await ds.runMigrations();
  const users = DEVICES / 2;
  // Two devices per user, topic subscriptions already done (the bench measures sends, not topic work).
  await ds.query(
    `INSERT INTO devices (id, tenant_id, user_id, provider, platform, token, token_hash, roles, topics, topics_pending, last_seen_at)
     SELECT gen_random_uuid(), $1, 'user-' || (g % $2), 'fcm', CASE WHEN g % 2 = 0 THEN 'android' ELSE 'ios' END,
            'bench-token-' || g, md5('bench-token-' || g) || md5('x' || g), '{MEMBER}', '{}', false, now()
       FROM generate_series(1, $3) AS g`,
    [TENANT, users, DEVICES],
  );
  await ds.query(
    `INSERT INTO devices (id, tenant_id, user_id, provider, platform, token, token_hash, roles, topics, topics_pending, last_seen_at)
     SELECT gen_random_uuid(), $1, 'user-' || (g % 1000), 'fcm', 'android', 'warmup-token-' || g,
            md5('warmup-token-' || g) || md5('y' || g), '{MEMBER}', '{}', false, now()
       FROM generate_series(1, $2) AS g`,
    [WARMUP_TENANT, WARMUP_DEVICES],
  );
  // One user in ten has saved preferences (not muting this category): the fan-out pays for the lookup.
  await ds.query(
    `INSERT INTO notification_preferences (tenant_id, user_id, enabled, muted_categories)
     SELECT $1, 'user-' || g, true, '{promotion}' FROM generate_series(0, $2 - 1) AS g WHERE g % 10 = 0`,
    [TENANT, users],
  );
  await ds.query('ANALYZE');
  await ds.destroy();
  return { devices: DEVICES, users };
}

/** The baseline: bare BullMQ, the same per-job work and retry policy, no Tether code. */
async function baseline() {
  const sender = new SimulatedFcm();
  const pool = new Pool({ connectionString: DB_URL, max: 10 });
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('baseline', { connection, prefix: PREFIX });
  const worker = new Worker(
    'baseline',
    async (job) => {
      const { rows } = await pool.query('SELECT id, token, platform FROM devices WHERE id = ANY($1::uuid[]) AND deactivated_at IS NULL', [
        job.data.ids,
      ]);
      const outcomes = await sender.send({ title: 'Bench', data: {}, priority: 'normal', createdAt: Date.now() }, rows);
      const failed = rows.filter((_r, i) => !outcomes[i].ok).map((r) => r.id);
      if (failed.length) {
        await job.updateData({ ids: failed });
        throw new Error('retry');
      }
    },
    { connection, prefix: PREFIX, concurrency: CONCURRENCY },
  );
  await worker.waitUntilReady();
  const sendAll = async (tenant, count) => {
    sender.reset();
    const started = performance.now();
    const { rows } = await pool.query('SELECT id FROM devices WHERE tenant_id = $1 AND deactivated_at IS NULL ORDER BY id', [tenant]);
    const jobs = [];
    for (let i = 0; i < rows.length; i += BATCH)
      jobs.push({
        name: 'deliver',
        data: { ids: rows.slice(i, i + BATCH).map((r) => r.id) },
        opts: { attempts: 8, backoff: { type: 'exponential', delay: RETRY_BASE_MS, jitter: 0.5 }, removeOnComplete: true },
      });
    await queue.addBulk(jobs);
    await sender.until(count);
    return (performance.now() - started) / 1000;
  };
  await sendAll(WARMUP_TENANT, WARMUP_DEVICES);
  const seconds = await measured('baseline', () => sendAll(TENANT, DEVICES));
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  await pool.end();
  return { tokensPerSecond: DEVICES / seconds, seconds, calls: sender.calls, transient: sender.transient };
}

/** Tether: the real app (compiled), its PushSender replaced by the simulation through Nest's testing module. */
async function tether() {
  const sender = new SimulatedFcm();
  const { Test } = require('@nestjs/testing');
  const { AppModule } = require(join(DIST, 'src/app.module'));
  const { configureApp } = require(join(DIST, 'src/app.setup'));
  const { loadConfig } = require(join(DIST, 'src/config/load-config'));
  const { PushSender } = require(join(DIST, 'src/modules/devices/push/push-sender'));
  const { NotificationsService } = require(join(DIST, 'src/modules/notifications/notifications.service'));
  const { TenantScope } = require(join(DIST, 'src/core/database/tenant-scope'));
  const config = loadConfig({
    PORT: '0',
    NODE_ENV: 'production',
    MOBILE_JWT_SECRET: randomBytes(24).toString('hex'),
    DATABASE_URL: DB_URL,
    DB_AUTO_MIGRATE: 'false',
    REDIS_URL,
    REDIS_KEY_PREFIX: PREFIX,
    LOG_LEVEL: 'warn',
    PUSH_CONCURRENCY: String(CONCURRENCY),
    PUSH_RETRY_BASE_MS: String(RETRY_BASE_MS),
    TETHER_ROLE: 'all',
  });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] })
    .overrideProvider(PushSender)
    .useValue(sender)
    .compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: ['error', 'warn'] });
  configureApp(app, config);
  await app.listen(0);
  const notifications = app.get(NotificationsService);
  const sendAll = async (tenant, count) => {
    sender.reset();
    const started = performance.now();
    // As an HTTP caller's notify runs: in its tenant's scope (row-level security refuses the insert without one).
    const notify = TenantScope.run(tenant, () =>
      notifications.notify({
        tenantId: tenant,
        recipients: { tenant: true },
        title: 'Service starts at 10:00',
        body: 'Doors open at 9:30',
        category: 'announcement',
      }),
    );
    const t0 = Date.now();
    const { notificationId } = await notify;
    const t1 = Date.now();
    await sender.until(count);
    if (env.BENCH_DEBUG) {
      const { getQueueToken } = require('@nestjs/bullmq');
      const job = await app.get(getQueueToken('notifications'), { strict: false }).getJob(`n-${notificationId}`);
      console.error(
        `notify ${t1 - t0} ms, fan-out started +${job.processedOn - t0} ms, finished +${job.finishedOn - t0} ms, all delivered +${Date.now() - t0} ms`,
      );
    }
    return (performance.now() - started) / 1000;
  };
  await sendAll(WARMUP_TENANT, WARMUP_DEVICES);
  const seconds = await measured('tether', () => sendAll(TENANT, DEVICES));
  await app.close();
  return { tokensPerSecond: DEVICES / seconds, seconds, calls: sender.calls, transient: sender.transient };
}

const steps = { prepare, baseline, tether };
steps[process.argv[2]]().then(
  (result) => {
    process.stdout.write(`\nRESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
