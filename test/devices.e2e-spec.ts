import request from 'supertest';
import { sleep } from '../tools/scratch';
import { startTestApp, TestApp } from './support/test-app';

const run = Date.now().toString(36);
const API = '/api/mobile/v1';
const ERROR_SHAPE = {
  statusCode: 400,
  error: 'Bad Request',
  code: 'validation_failed',
  message: expect.any(String),
  details: expect.any(Array),
  requestId: expect.any(String),
};

describe('devices', () => {
  let t: TestApp;
  const tenant = `dev-${run}`;
  const auth = async (user: string, tid = tenant) => `Bearer ${await t.token({ sub: user, tid })}`;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it("registers with seed 000's exact client call and lists the device", async () => {
    const Platform = { OS: 'android' };
    const fcmToken = `fcm-${run}-seed`;
    const authToken = await t.token({ sub: 'seed-user', tid: tenant });
    const response = await fetch(`${t.url}/api/mobile/v1/devices/register`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${authToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: fcmToken, platform: Platform.OS, appVersion: '1.0.0' }),
    });
    expect(response.ok).toBe(true);
    const device = await response.json();
    expect(device).toMatchObject({
      id: expect.any(String),
      token: fcmToken,
      platform: 'android',
      provider: 'fcm',
      appVersion: '1.0.0',
      active: true,
    });

    const list = await request(t.url).get(`${API}/devices`).set('Authorization', `Bearer ${authToken}`).expect(200);
    expect(list.body.devices).toEqual([device]);
  });

  it('upserts on the token: registering again updates lastSeenAt and metadata, same device', async () => {
    const token = `fcm-${run}-again`;
    const a = await auth('again-user');
    const first = (
      await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', a)
        .send({ token, platform: 'ios', appVersion: '1.0.0' })
        .expect(200)
    ).body;
    await sleep(20);
    const second = (
      await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', a)
        .send({ token, platform: 'ios', appVersion: '1.1.0', locale: 'fr-FR', timezone: 'Europe/Paris' })
        .expect(200)
    ).body;
    expect(second).toMatchObject({ id: first.id, appVersion: '1.1.0', locale: 'fr-FR', timezone: 'Europe/Paris' });
    expect(new Date(second.lastSeenAt).getTime()).toBeGreaterThan(new Date(first.lastSeenAt).getTime());
    const list = await request(t.url).get(`${API}/devices`).set('Authorization', a).expect(200);
    expect(list.body.devices).toHaveLength(1);
  });

  it('moves a token to the user who registers it last (one device, one owner)', async () => {
    const token = `fcm-${run}-shared-phone`;
    const alice = await auth('alice');
    const bob = await auth('bob');
    const mine = (
      await request(t.url).post(`${API}/devices/register`).set('Authorization', alice).send({ token, platform: 'ios' }).expect(200)
    ).body;
    const theirs = (
      await request(t.url).post(`${API}/devices/register`).set('Authorization', bob).send({ token, platform: 'ios' }).expect(200)
    ).body;
    expect(theirs.id).toBe(mine.id);
    expect((await request(t.url).get(`${API}/devices`).set('Authorization', alice).expect(200)).body.devices).toEqual([]);
    expect((await request(t.url).get(`${API}/devices`).set('Authorization', bob).expect(200)).body.devices).toHaveLength(1);
    // Alice can no longer remove it.
    await request(t.url).delete(`${API}/devices/${mine.id}`).set('Authorization', alice).expect(404);
  });

  it('removes a device (logout), and answers 404 for unknown or malformed ids', async () => {
    const a = await auth('logout-user');
    const { id } = (
      await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', a)
        .send({ token: `fcm-${run}-logout`, platform: 'web' })
        .expect(200)
    ).body;
    await request(t.url).delete(`${API}/devices/${id}`).set('Authorization', a).expect(204);
    expect((await request(t.url).get(`${API}/devices`).set('Authorization', a).expect(200)).body.devices).toEqual([]);
    const again = await request(t.url).delete(`${API}/devices/${id}`).set('Authorization', a).expect(404);
    expect(again.body).toMatchObject({ code: 'device_not_found', statusCode: 404 });
    await request(t.url).delete(`${API}/devices/not-a-uuid`).set('Authorization', a).expect(404);
  });

  it("never shows or removes another tenant's devices, even for the same user id", async () => {
    const inA = await auth('same-user', `${tenant}-a`);
    const inB = await auth('same-user', `${tenant}-b`);
    const { id } = (
      await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', inA)
        .send({ token: `fcm-${run}-tenant-a`, platform: 'ios' })
        .expect(200)
    ).body;
    expect((await request(t.url).get(`${API}/devices`).set('Authorization', inB).expect(200)).body.devices).toEqual([]);
    const res = await request(t.url).delete(`${API}/devices/${id}`).set('Authorization', inB).expect(404);
    expect(res.body.code).toBe('device_not_found');
    expect((await request(t.url).get(`${API}/devices`).set('Authorization', inA).expect(200)).body.devices).toHaveLength(1);
  });

  describe('input validation', () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['an unknown platform', { token: 'x', platform: 'symbian' }, 'platform'],
      ['an uppercase platform', { token: 'x', platform: 'IOS' }, 'platform'],
      ['an empty token', { token: '', platform: 'ios' }, 'token'],
      ['a 5 KB token', { token: 'a'.repeat(5 * 1024), platform: 'ios' }, 'token'],
      ['a token with spaces', { token: 'has space', platform: 'ios' }, 'token'],
      ['a missing token', { platform: 'ios' }, 'token'],
      ['a non-string token', { token: 42, platform: 'ios' }, 'token'],
      ['an unknown time zone', { token: 'x', platform: 'ios', timezone: 'Mars/Olympus' }, 'timezone'],
      ['an unknown field', { token: 'x', platform: 'ios', userId: 'someone-else' }, 'userId'],
    ];
    it.each(cases)('answers 400 validation_failed for %s', async (name, body, field) => {
      // One user per case: rejected registrations count toward the 5 per minute as well.
      const res = await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', await auth(`validation-${name.replace(/\W+/g, '-')}`))
        .send(body)
        .expect(400);
      expect(res.body).toEqual(ERROR_SHAPE);
      expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
    });

    it('accepts a 4096-character token', async () => {
      await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', await auth('long-token-user'))
        .send({ token: 'b'.repeat(4096), platform: 'android' })
        .expect(200);
    });
  });

  it('rate-limits registration to 5 per minute per user, counted in Redis', async () => {
    const a = await auth(`limited-${run}`);
    for (let i = 0; i < 5; i++)
      await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', a)
        .send({ token: `fcm-${run}-rl`, platform: 'ios' })
        .expect(200);
    const res = await request(t.url)
      .post(`${API}/devices/register`)
      .set('Authorization', a)
      .send({ token: `fcm-${run}-rl`, platform: 'ios' })
      .expect(429);
    expect(res.body.code).toBe('rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    // Listing is not limited by it, and other users still register.
    await request(t.url).get(`${API}/devices`).set('Authorization', a).expect(200);
    await request(t.url)
      .post(`${API}/devices/register`)
      .set('Authorization', await auth(`other-${run}`))
      .send({ token: `fcm-${run}-rl2`, platform: 'ios' })
      .expect(200);
  });

  it('documents the endpoints in OpenAPI with their error responses', async () => {
    const { body } = await request(t.url).get('/docs-json').expect(200);
    const register = body.paths[`${API}/devices/register`].post;
    expect(Object.keys(register.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '429']));
    expect(body.components.schemas.RegisterDeviceDto.properties.platform.enum).toEqual(['ios', 'android', 'web']);
    expect(body.paths[`${API}/devices/{id}`].delete.responses['404'].content['application/json'].schema.$ref).toMatch(/ErrorResponse/);
  });
});
