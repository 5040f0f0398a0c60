import { Job, Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { QueueRegistry } from '../src/core/queue/queue-registry.service';
import { eventually, PrivateRedis, startPrivateRedis } from '../tools/scratch';
import { ERROR_SHAPE } from './support/error-shape';
import { startTestApp, TestApp } from './support/test-app';

const API = '/api/mobile/v1';

// The app runs no workers here (TETHER_ROLE=api): the test's own worker fails the jobs it adds to
// the app's devices queue, under a key prefix of this file's own (inside the run's prefix).
describe('failed jobs per queue (server API)', () => {
  let t: TestApp;
  let queue: Queue;
  let service: string;
  let worker: Worker | undefined;
  let workerConnection: Redis;

  beforeAll(async () => {
    t = await startTestApp({ TETHER_ROLE: 'api', REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX}:fj${randomBytes(3).toString('hex')}` });
    queue = t.app.get(QueueRegistry).queue('devices');
    service = `Bearer ${await t.token({ sub: 'ops', roles: ['SERVICE'] })}`;
    workerConnection = new Redis(t.config.redis.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await worker?.close();
    workerConnection?.disconnect();
    await t?.close();
  });

  /** Runs a worker that fails every job until `count` jobs are failed, then stops it. */
  async function failJobs(count: number): Promise<void> {
    worker = new Worker(
      'devices',
      async (job: Job<{ n: number }>) => {
        throw new Error(`boom ${job.data.n}`);
      },
      { connection: workerConnection, prefix: queue.opts.prefix },
    );
    await eventually(() => queue.getFailedCount(), { until: (n) => n === count, what: `${count} failed jobs` });
    await worker.close();
    worker = undefined;
  }

  const get = (path: string, auth = service) => request(t.url).get(`${API}${path}`).set('Authorization', auth);
  const post = (path: string, body: object, auth = service) => request(t.url).post(`${API}${path}`).set('Authorization', auth).send(body);

  it('lists failures with their reasons, retries and cleans them, by id or all', async () => {
    const added: Job[] = [];
    for (const n of [1, 2, 3]) {
      added.push(
        await queue.add(
          'probe',
          {
            n,
            tenantId: 't1',
            tokens: ['secret-push-token'],
            apiKey: 'k',
            payload: { title: 'Hi', body: 'private text' },
            note: 'x'.repeat(100),
          },
          { attempts: 1 },
        ),
      );
      await new Promise((r) => setTimeout(r, 5)); // distinct failure times: the order is checked below
    }
    await failJobs(3);

    const page = (await get('/admin/queues/devices/failed?limit=2').expect(200)).body;
    expect(page).toMatchObject({ queue: 'devices', total: 3, nextOffset: 2 });
    expect(page.jobs).toHaveLength(2);
    const [first] = page.jobs;
    expect(first).toEqual({
      id: expect.any(String),
      name: 'probe',
      failedReason: expect.stringMatching(/^boom \d$/),
      attemptsMade: 1,
      attempts: 1,
      createdAt: expect.any(String),
      processedAt: expect.any(String),
      failedAt: expect.any(String),
      data: {
        n: expect.any(Number),
        tenantId: 't1',
        tokens: '[redacted]',
        apiKey: '[redacted]',
        payload: 'object(title, body)',
        note: expect.stringMatching(/^x{63}…$/),
      },
    });
    expect(JSON.stringify(page)).not.toMatch(/secret-push-token|private text/);
    // Most recent first.
    expect(new Date(page.jobs[0].failedAt).getTime()).toBeGreaterThanOrEqual(new Date(page.jobs[1].failedAt).getTime());
    const rest = (await get('/admin/queues/devices/failed?limit=2&offset=2').expect(200)).body;
    expect(rest).toMatchObject({ total: 3, nextOffset: null });
    expect(rest.jobs).toHaveLength(1);
    expect(new Set([...page.jobs, ...rest.jobs].map((j: { id: string }) => j.id))).toEqual(new Set(added.map((j) => j.id)));

    // Retry by id: the job waits again; a second retry of it, or an unknown id, is skipped.
    const one = added[0].id!;
    expect((await post('/admin/queues/devices/failed/retry', { jobIds: [one, 'nope'] }).expect(200)).body).toEqual({
      retried: 1,
      skipped: [{ jobId: 'nope', reason: 'not_found' }],
    });
    expect(await queue.getJobState(one)).toBe('waiting');
    expect((await post('/admin/queues/devices/failed/retry', { jobIds: [one] }).expect(200)).body).toEqual({
      retried: 0,
      skipped: [{ jobId: one, reason: 'not_failed' }],
    });

    // Retry all: the other two; then all three run again, and fail again.
    expect((await post('/admin/queues/devices/failed/retry', {}).expect(200)).body).toEqual({ retried: 2, skipped: [] });
    expect(await queue.getFailedCount()).toBe(0);
    await failJobs(3);
    const again = (await get('/admin/queues/devices/failed').expect(200)).body;
    expect(again.jobs.map((j: { attemptsMade: number }) => j.attemptsMade)).toEqual([2, 2, 2]);

    // Clean: nothing older than a minute; one by id; then the rest.
    expect((await post('/admin/queues/devices/failed/clean', { graceMs: 60_000 }).expect(200)).body).toEqual({ removed: 0, skipped: [] });
    expect((await post('/admin/queues/devices/failed/clean', { jobIds: [one] }).expect(200)).body).toEqual({ removed: 1, skipped: [] });
    expect(await queue.getJob(one)).toBeUndefined();
    expect((await post('/admin/queues/devices/failed/clean', {}).expect(200)).body).toEqual({ removed: 2, skipped: [] });
    expect((await get('/admin/queues/devices/failed').expect(200)).body).toEqual({
      queue: 'devices',
      total: 0,
      jobs: [],
      nextOffset: null,
    });
  });

  it('answers an unknown queue, bad input and members in the one error shape', async () => {
    const missing = await get('/admin/queues/nope/failed').expect(404);
    expect(missing.body).toMatchObject({ ...ERROR_SHAPE, code: 'queue_not_found' });
    await post('/admin/queues/nope/failed/retry', {}).expect(404);
    await post('/admin/queues/nope/failed/clean', {}).expect(404);

    for (const [path, body] of [
      ['/admin/queues/devices/failed/retry', { jobIds: [] }],
      ['/admin/queues/devices/failed/retry', { jobIds: [''] }],
      ['/admin/queues/devices/failed/retry', { jobIds: 'all' }],
      ['/admin/queues/devices/failed/clean', { graceMs: -1 }],
      ['/admin/queues/devices/failed/clean', { jobIds: ['a'], graceMs: 10 }],
      ['/admin/queues/devices/failed/clean', { extra: true }],
    ] as const) {
      const res = await post(path, body).expect(400);
      expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'validation_failed' });
    }
    for (const query of ['limit=0', 'limit=101', 'offset=-1', 'limit=x'])
      expect((await get(`/admin/queues/devices/failed?${query}`).expect(400)).body.code).toBe('validation_failed');

    const member = `Bearer ${await t.token({ sub: 'm', roles: ['MEMBER'] })}`;
    expect((await get('/admin/queues/devices/failed', member).expect(403)).body.code).toBe('forbidden');
    await post('/admin/queues/devices/failed/clean', {}, member).expect(403);
    // A tenant's ADMIN sees the counts, not other tenants' failed jobs.
    const admin = `Bearer ${await t.token({ sub: 'a', roles: ['ADMIN'] })}`;
    await get('/admin/queues', admin).expect(200);
    expect((await get('/admin/queues/devices/failed', admin).expect(403)).body.code).toBe('forbidden');
    await post('/admin/queues/devices/failed/retry', {}, admin).expect(403);
    await post('/admin/queues/devices/failed/clean', {}, admin).expect(403);
  });
});

describe('failed jobs while Redis is away', () => {
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

  it('answers 503 redis_unavailable, as the other queue routes do', async () => {
    const auth = `Bearer ${await t.token({ sub: 'ops', roles: ['SERVICE'] })}`;
    await request(t.url).get(`${API}/admin/queues/devices/failed`).set('Authorization', auth).expect(200);
    await redis.stop();
    for (const req of [
      request(t.url).get(`${API}/admin/queues`),
      request(t.url).get(`${API}/admin/queues/devices/failed`),
      request(t.url).post(`${API}/admin/queues/devices/failed/retry`).send({}),
      request(t.url)
        .post(`${API}/admin/queues/devices/failed/clean`)
        .send({ jobIds: ['a'] }),
    ]) {
      const started = Date.now();
      const res = await req.set('Authorization', auth);
      expect({ status: res.status, code: res.body.code, retryAfter: res.headers['retry-after'] }).toEqual({
        status: 503,
        code: 'redis_unavailable',
        retryAfter: '5',
      });
      expect(Date.now() - started).toBeLessThan(3000);
    }
    // An unknown queue is still a 404: nothing to ask Redis.
    await request(t.url).get(`${API}/admin/queues/nope/failed`).set('Authorization', auth).expect(404);
  });
});
