import request from 'supertest';
import { ERROR_SHAPE } from './support/error-shape';
import { startTestApp, TestApp } from './support/test-app';

// The /demo page and its development-only token route, as each environment mounts them.
describe('demo page', () => {
  describe('outside production (NODE_ENV=test)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t?.close());

    it('serves the page, its files and the SDK bundle under a same-origin CSP', async () => {
      const page = await request(t.url).get('/demo').expect(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.text).toContain('<body data-token-route="true">');
      expect(page.text).toContain('<script src="/demo/tether.js"');

      const script = await request(t.url).get('/demo/demo.js').expect(200);
      expect(script.headers['content-type']).toMatch(/^text\/javascript/);
      expect(script.text).toContain('Tether.TetherClient');
      expect((await request(t.url).get('/demo/demo.css').expect(200)).headers['content-type']).toMatch(/^text\/css/);

      const bundle = await request(t.url).get('/demo/tether.js').expect(200);
      expect(bundle.headers['content-type']).toMatch(/^text\/javascript/);
      expect(bundle.text).toMatch(/\bTether\s*=/);
      // Nothing else under /demo: the page's files are a fixed list, not a directory.
      expect((await request(t.url).get('/demo/index.html').expect(404)).body).toMatchObject({ ...ERROR_SHAPE, code: 'not_found' });
      expect((await request(t.url).get('/demo/..%2Fdemo-page.controller.js').expect(404)).body.code).toBe('not_found');
    });

    it('mints a short-lived demo token that the API accepts: tenant demo, roles MEMBER and LEADER', async () => {
      const before = Date.now();
      const res = await request(t.url).post('/demo/token').send({ userId: 'auth0|alice.demo' }).expect(200);
      expect(res.body).toEqual({
        token: expect.any(String),
        userId: 'auth0|alice.demo',
        tenantId: 'demo',
        roles: ['MEMBER', 'LEADER'],
        expiresAt: expect.any(String),
      });
      const lifetime = Date.parse(res.body.expiresAt) - before;
      expect(lifetime).toBeGreaterThan(590_000);
      expect(lifetime).toBeLessThanOrEqual(601_000);
      const me = await request(t.url).get('/api/mobile/v1/me').set('Authorization', `Bearer ${res.body.token}`).expect(200);
      expect(me.body).toMatchObject({ userId: 'auth0|alice.demo', tenantId: 'demo', roles: ['MEMBER', 'LEADER'] });
      // LEADER: the page can schedule a service and post an announcement without manual steps.
      await request(t.url)
        .post('/api/mobile/v1/announcements')
        .set('Authorization', `Bearer ${res.body.token}`)
        .send({ title: 'Hello', content: 'from the demo spec' })
        .expect(201);
    });

    it.each([
      ['no userId', {}],
      ['a userId with a space', { userId: 'alice smith' }],
      ['a userId of 129 characters', { userId: 'a'.repeat(129) }],
      ['a userId that is not a string', { userId: 42 }],
      ['an unknown field', { userId: 'alice', roles: ['ADMIN'] }],
    ])('refuses %s with validation_failed in the one error shape', async (_, body) => {
      const res = await request(t.url).post('/demo/token').send(body).expect(400);
      expect(res.body).toMatchObject({ ...ERROR_SHAPE, statusCode: 400, code: 'validation_failed', details: expect.any(Array) });
    });

    it('refuses a body that is not JSON with invalid_json', async () => {
      const res = await request(t.url).post('/demo/token').set('Content-Type', 'application/json').send('{"userId":').expect(400);
      expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'invalid_json' });
    });
  });

  it('caps the demo token at JWT_MAX_TOKEN_LIFETIME_SEC', async () => {
    const t = await startTestApp({ JWT_MAX_TOKEN_LIFETIME_SEC: '120' });
    try {
      const res = await request(t.url).post('/demo/token').send({ userId: 'bob' }).expect(200);
      expect(Date.parse(res.body.expiresAt) - Date.now()).toBeLessThanOrEqual(121_000);
      await request(t.url).get('/api/mobile/v1/me').set('Authorization', `Bearer ${res.body.token}`).expect(200);
    } finally {
      await t.close();
    }
  });

  it('DEMO_ENABLED=false: no page and no token route', async () => {
    const t = await startTestApp({ DEMO_ENABLED: 'false' });
    try {
      expect((await request(t.url).get('/demo').expect(404)).body).toMatchObject({ ...ERROR_SHAPE, code: 'not_found' });
      expect((await request(t.url).post('/demo/token').send({ userId: 'alice' }).expect(404)).body.code).toBe('not_found');
    } finally {
      await t.close();
    }
  });

  it('production: off by default; with DEMO_ENABLED=true the page only, never the token route', async () => {
    const off = await startTestApp({ NODE_ENV: 'production' });
    try {
      await request(off.url).get('/demo').expect(404);
      await request(off.url).post('/demo/token').send({ userId: 'alice' }).expect(404);
    } finally {
      await off.close();
    }
    const on = await startTestApp({ NODE_ENV: 'production', DEMO_ENABLED: 'true' });
    try {
      const page = await request(on.url).get('/demo').expect(200);
      expect(page.text).toContain('<body data-token-route="false">');
      await request(on.url).get('/demo/tether.js').expect(200);
      const res = await request(on.url).post('/demo/token').send({ userId: 'alice' }).expect(404);
      expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'not_found' });
    } finally {
      await on.close();
    }
  });
});
