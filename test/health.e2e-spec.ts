import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';

describe('health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('is live', async () => {
    await request(t.url).get('/health/live').expect(200, { status: 'ok' });
  });

  it('is ready when PostgreSQL and Redis answer', async () => {
    const res = await request(t.url).get('/health/ready').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.details.database.status).toBe('up');
    expect(res.body.details.redis.status).toBe('up');
  });

  it('reports full health without a token', async () => {
    const res = await request(t.url).get('/health').expect(200);
    expect(Object.keys(res.body.details)).toEqual(expect.arrayContaining(['database', 'redis']));
  });

  describe('with Redis unreachable', () => {
    let dead: TestApp;
    let strict: TestApp;
    beforeAll(async () => {
      // Port 1 on loopback: nothing listens there, connections are refused at once.
      dead = await startTestApp({ REDIS_URL: 'redis://127.0.0.1:1' });
      strict = await startTestApp({ REDIS_URL: 'redis://127.0.0.1:1', HEALTH_READY_REQUIRES_REDIS: 'true' });
    });
    afterAll(async () => {
      await dead.close();
      await strict.close();
    });

    it('stays ready by default (PostgreSQL-only routes keep their traffic), reporting redis down', async () => {
      const res = await request(dead.url).get('/health/ready').expect(200);
      expect(res.body.details.database.status).toBe('up');
      expect(res.body.details.redis).toMatchObject({ status: 'down' });
      expect(res.body.error.redis).toMatchObject({ status: 'down' });
      const full = await request(dead.url).get('/health').expect(503);
      expect(full.body).toMatchObject({ code: 'unhealthy', message: expect.stringContaining('redis') });
    });

    it('with HEALTH_READY_REQUIRES_REDIS, turns readiness to 503 in the error shape, naming redis', async () => {
      const dead = strict;
      const res = await request(dead.url).get('/health/ready').expect(503);
      expect(res.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable', code: 'not_ready' });
      expect(res.body.message).toContain('redis');
      expect(res.body.details).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: 'redis', status: 'down' }),
          expect.objectContaining({ name: 'database', status: 'up' }),
        ]),
      );
      expect(res.body.requestId).toEqual(expect.any(String));
    });

    it('stays live, and keeps serving authenticated requests (the limiter fails open)', async () => {
      await request(dead.url).get('/health/live').expect(200);
      const token = await dead.token();
      await request(dead.url).get('/api/mobile/v1/me').set('Authorization', `Bearer ${token}`).expect(200);
    });
  });

  it('fails readiness while draining', async () => {
    const draining = await startTestApp();
    try {
      const { HealthRegistry } = await import('../src/core/health/health.registry');
      draining.app.get(HealthRegistry).markDraining();
      const res = await request(draining.url).get('/health/ready').expect(503);
      expect(res.body.code).toBe('not_ready');
    } finally {
      await draining.close();
    }
  });
});
