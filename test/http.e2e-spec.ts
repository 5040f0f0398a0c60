import request from 'supertest';
import { ProbeModule } from './support/probe.module';
import { startTestApp, TestApp } from './support/test-app';
import { ERROR_SHAPE } from './support/error-shape';

describe('HTTP conventions', () => {
  let t: TestApp;
  let auth: string;
  beforeAll(async () => {
    t = await startTestApp(
      { BODY_LIMIT: '2kb', FRONTEND_URL: 'https://app.example.com, https://admin.example.com' },
      {
        extraModules: [ProbeModule],
      },
    );
    auth = `Bearer ${await t.token()}`;
  });
  afterAll(() => t.close());

  it('validates input: whitelist, unknown fields rejected, transform, details per field', async () => {
    const res = await request(t.url)
      .post('/api/mobile/v1/probe/echo')
      .set('Authorization', auth)
      .send({ name: 'x'.repeat(11), count: 9, platform: 'symbian', extra: true })
      .expect(400);
    expect(res.body).toEqual({
      ...ERROR_SHAPE,
      statusCode: 400,
      error: 'Bad Request',
      code: 'validation_failed',
      details: expect.any(Array),
    });
    const fields = res.body.details.map((d: { field: string }) => d.field).sort();
    expect(fields).toEqual(['count', 'extra', 'name', 'platform']);
    expect(res.body.details.find((d: { field: string }) => d.field === 'platform').messages[0]).toMatch(/ios, android, web/);
  });

  it('accepts valid input and transforms it to the DTO', async () => {
    const res = await request(t.url)
      .post('/api/mobile/v1/probe/echo')
      .set('Authorization', auth)
      .send({ name: 'ok', count: 3, platform: 'ios' })
      .expect(201);
    expect(res.body).toEqual({ received: { name: 'ok', count: 3, platform: 'ios' }, countType: 'number' });
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const res = await request(t.url)
      .post('/api/mobile/v1/probe/echo')
      .set('Authorization', auth)
      .set('Content-Type', 'application/json')
      .send('{"name": ')
      .expect(400);
    expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'invalid_json' });
    expect(res.body.requestId).not.toBe('');
  });

  it('answers a body over the limit with 413 payload_too_large', async () => {
    const res = await request(t.url)
      .post('/api/mobile/v1/probe/echo')
      .set('Authorization', auth)
      .send({ name: 'x'.repeat(5000), count: 1, platform: 'ios' })
      .expect(413);
    expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'payload_too_large' });
  });

  it('answers an unknown route with 404 in the error shape', async () => {
    const res = await request(t.url).get('/api/mobile/v1/nope').set('Authorization', auth).expect(404);
    expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'not_found' });
  });

  it('hides unexpected errors behind a bare 500, no SQL or stack', async () => {
    const res = await request(t.url).get('/api/mobile/v1/probe/crash').set('Authorization', auth).expect(500);
    expect(res.body).toEqual({
      ...ERROR_SHAPE,
      statusCode: 500,
      error: 'Internal Server Error',
      code: 'internal_error',
      message: 'Internal server error',
    });
    expect(JSON.stringify(res.body)).not.toMatch(/secret_table|SELECT|at /);
  });

  it('enforces @Roles with 403 forbidden', async () => {
    const member = await request(t.url).get('/api/mobile/v1/probe/admin').set('Authorization', auth).expect(403);
    expect(member.body).toMatchObject({ ...ERROR_SHAPE, code: 'forbidden' });
    const service = `Bearer ${await t.token({ roles: ['SERVICE'] })}`;
    await request(t.url).get('/api/mobile/v1/probe/admin').set('Authorization', service).expect(200, { ok: true });
  });

  describe('request id', () => {
    it('echoes a given X-Request-Id in the header and the error body', async () => {
      const res = await request(t.url).get('/api/mobile/v1/me').set('X-Request-Id', 'req-42.abc').expect(401);
      expect(res.headers['x-request-id']).toBe('req-42.abc');
      expect(res.body.requestId).toBe('req-42.abc');
    });

    it('generates one when absent, and replaces an unsafe one', async () => {
      const none = await request(t.url).get('/health/live').expect(200);
      expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      const unsafe = await request(t.url).get('/health/live').set('X-Request-Id', 'a b<script>').expect(200);
      expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  it('sets security headers and CORS from FRONTEND_URL', async () => {
    const ok = await request(t.url).get('/health/live').set('Origin', 'https://admin.example.com').expect(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://admin.example.com');
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    const other = await request(t.url).get('/health/live').set('Origin', 'https://evil.example.com').expect(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('serves Prometheus metrics with the request histogram by route pattern', async () => {
    await request(t.url).get('/api/mobile/v1/me').set('Authorization', auth).expect(200);
    const res = await request(t.url).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toMatch(/tether_process_cpu_user_seconds_total/);
    expect(res.text).toMatch(/tether_http_request_duration_seconds_count\{method="GET",route="\/api\/mobile\/v1\/me",status="200"\} \d+/);
  });

  it('answers every unknown path and method with 404 not_found in the one error shape, never HTML', async () => {
    const cases: [string, string][] = [
      ['get', '/api/nope'], // outside the prefix
      ['put', '/api/conversations'], // the messaging app's alias, a method it does not serve
      ['get', '/nope'],
      ['post', '/docs'],
      ['get', '/api/mobile/v1/nope'],
      ['put', '/api/mobile/v1/me'], // a known path, a method it does not serve
      ['delete', '/health/live'],
      ['patch', '/api/v1/users/push-token'],
    ];
    for (const [method, path] of cases) {
      for (const authorization of [auth, undefined]) {
        const req = request(t.url)[method as 'get'](path);
        if (authorization) req.set('Authorization', authorization);
        const res = await req.expect(404).expect('Content-Type', /application\/json/);
        expect(res.body).toEqual({ ...ERROR_SHAPE, statusCode: 404, error: 'Not Found', code: 'not_found' });
        expect(res.body.message).toBe(`Cannot ${method.toUpperCase()} ${path}`);
        expect(res.body.requestId).toBe(res.headers['x-request-id']);
      }
    }
  });

  it('serves OpenAPI at /docs-json with bearer auth and every route, and the UI at /docs', async () => {
    const res = await request(t.url).get('/docs-json').expect(200);
    expect(res.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(['/api/mobile/v1/me', '/health/live', '/health/ready', '/health', '/metrics']),
    );
    expect(res.body.components.schemas.ErrorResponse.required).toEqual(
      expect.arrayContaining(['statusCode', 'error', 'code', 'message', 'requestId']),
    );
    const ui = await request(t.url).get('/docs').redirects(1).expect(200);
    expect(ui.text).toMatch(/swagger/i);
  });
});

describe('rate limits counted in Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    // Two instances sharing one Redis: the limit holds across them.
    a = await startTestApp({ RATE_LIMIT_PER_MINUTE: '3' });
    b = await startTestApp({ RATE_LIMIT_PER_MINUTE: '3' });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('answers 429 rate_limited with Retry-After once a user is over the limit on any pod, per user', async () => {
    const user = `Bearer ${await a.token({ sub: `limited-${Date.now()}` })}`;
    await request(a.url).get('/api/mobile/v1/me').set('Authorization', user).expect(200);
    await request(b.url).get('/api/mobile/v1/me').set('Authorization', user).expect(200);
    await request(a.url).get('/api/mobile/v1/me').set('Authorization', user).expect(200);
    const res = await request(b.url).get('/api/mobile/v1/me').set('Authorization', user).expect(429);
    expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'rate_limited' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    // Another user is counted separately.
    const other = `Bearer ${await a.token({ sub: `other-${Date.now()}` })}`;
    await request(a.url).get('/api/mobile/v1/me').set('Authorization', other).expect(200);
  });

  it('does not count backends with an exempt role (SERVICE by default)', async () => {
    const service = `Bearer ${await a.token({ sub: `backend-${Date.now()}`, roles: ['SERVICE'] })}`;
    for (let i = 0; i < 6; i++)
      await request(i % 2 ? a.url : b.url)
        .get('/api/mobile/v1/me')
        .set('Authorization', service)
        .expect(200);
    const admin = `Bearer ${await a.token({ sub: `admin-${Date.now()}`, roles: ['ADMIN'] })}`;
    for (let i = 0; i < 3; i++) await request(a.url).get('/api/mobile/v1/me').set('Authorization', admin).expect(200);
    await request(a.url).get('/api/mobile/v1/me').set('Authorization', admin).expect(429);
  });
});
