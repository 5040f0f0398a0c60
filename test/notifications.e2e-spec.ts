import request from 'supertest';
import { sleep } from '../tools/scratch';
import { connect, next, record } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

const run = Date.now().toString(36);
const API = '/api/mobile/v1';

describe('notifications: inbox, preferences and the notify API', () => {
  let t: TestApp;
  const tenant = `inbox-${run}`;
  const auth = async (user: string, tid = tenant, roles = ['MEMBER']) => `Bearer ${await t.token({ sub: user, tid, roles })}`;
  const notify = async (body: Record<string, unknown>, status = 202, tid = tenant) => {
    const res = await request(t.url)
      .post(`${API}/admin/notify`)
      .set('Authorization', await auth('backend', tid, ['SERVICE']))
      .send(body);
    expect(res.status).toBe(status);
    return res;
  };

  beforeAll(async () => {
    t = await startTestApp(); // no Firebase credentials: the logging sender
  });
  afterAll(() => t.close());

  it('pages the inbox newest first with a cursor, filters by since, and counts unread', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await notify({ userIds: ['reader', 'someone-else'], title: `n${i}`, category: 'message' });
      expect(res.body.inboxCount).toBe(2);
      ids.push(res.body.notificationId);
    }
    const me = await auth('reader');
    const first = await request(t.url).get(`${API}/notifications?limit=2`).set('Authorization', me).expect(200);
    expect(first.body).toMatchObject({ hasMore: true, unreadCount: 5, nextCursor: expect.any(String) });
    expect(first.body.items.map((i: { id: string }) => i.id)).toEqual([ids[4], ids[3]]);
    expect(first.body.items[0]).toMatchObject({ title: 'n4', category: 'message', priority: 'normal', readAt: null, data: {} });

    const second = await request(t.url)
      .get(`${API}/notifications?limit=2&cursor=${first.body.nextCursor}`)
      .set('Authorization', me)
      .expect(200);
    expect(second.body.items.map((i: { id: string }) => i.id)).toEqual([ids[2], ids[1]]);
    const last = await request(t.url)
      .get(`${API}/notifications?limit=2&cursor=${second.body.nextCursor}`)
      .set('Authorization', me)
      .expect(200);
    expect(last.body).toMatchObject({ hasMore: false, nextCursor: null });
    expect(last.body.items.map((i: { id: string }) => i.id)).toEqual([ids[0]]);

    const since = first.body.items[1].createdAt; // n3's creation
    const newer = await request(t.url).get(`${API}/notifications`).query({ since }).set('Authorization', me).expect(200);
    expect(newer.body.items.map((i: { id: string }) => i.id)).toEqual([ids[4]]);
  });

  it('marks one read, then all read', async () => {
    const me = await auth('marker');
    const a = (await notify({ userIds: ['marker'], title: 'a', category: 'booking' })).body.notificationId;
    await notify({ userIds: ['marker'], title: 'b', category: 'booking' });
    const read = await request(t.url).post(`${API}/notifications/${a}/read`).set('Authorization', me).expect(200);
    expect(read.body).toEqual({ id: a, readAt: expect.any(String) });
    const again = await request(t.url).post(`${API}/notifications/${a}/read`).set('Authorization', me).expect(200);
    expect(again.body.readAt).toBe(read.body.readAt); // the first read time stays
    expect((await request(t.url).get(`${API}/notifications`).set('Authorization', me).expect(200)).body.unreadCount).toBe(1);
    expect((await request(t.url).post(`${API}/notifications/read-all`).set('Authorization', me).expect(200)).body).toEqual({ updated: 1 });
    expect((await request(t.url).get(`${API}/notifications`).set('Authorization', me).expect(200)).body.unreadCount).toBe(0);
    await request(t.url).post(`${API}/notifications/00000000-0000-0000-0000-000000000000/read`).set('Authorization', me).expect(404);
    await request(t.url).post(`${API}/notifications/nope/read`).set('Authorization', me).expect(404);
  });

  it("keeps inboxes per tenant: a user of tenant B never sees or reads tenant A's notifications", async () => {
    const { notificationId } = (await notify({ userIds: ['shared-id'], title: 'for A only', category: 'system' }, 202, `${tenant}-a`)).body;
    const inA = await auth('shared-id', `${tenant}-a`);
    const inB = await auth('shared-id', `${tenant}-b`);
    expect((await request(t.url).get(`${API}/notifications`).set('Authorization', inA).expect(200)).body.items).toHaveLength(1);
    const b = await request(t.url).get(`${API}/notifications`).set('Authorization', inB).expect(200);
    expect(b.body).toMatchObject({ items: [], unreadCount: 0 });
    const res = await request(t.url).post(`${API}/notifications/${notificationId}/read`).set('Authorization', inB).expect(404);
    expect(res.body.code).toBe('notification_not_found');
    expect((await request(t.url).post(`${API}/notifications/read-all`).set('Authorization', inB).expect(200)).body.updated).toBe(0);
    // Idempotency keys are per tenant too.
    const body = { userIds: ['x'], title: 'same key', category: 'system', idempotencyKey: `k-${run}` };
    const first = (await notify(body, 202, `${tenant}-a`)).body;
    const other = (await notify(body, 202, `${tenant}-b`)).body;
    expect(other.notificationId).not.toBe(first.notificationId);
    expect(other.duplicate).toBe(false);
  });

  it('stores preferences per category with quiet hours, and validates them', async () => {
    const me = await auth('prefs-user');
    const defaults = await request(t.url).get(`${API}/notifications/preferences`).set('Authorization', me).expect(200);
    expect(defaults.body).toEqual({
      enabled: true,
      categories: { message: true, booking: true, announcement: true, promotion: true, system: true },
      quietHours: null,
    });
    const saved = await request(t.url)
      .put(`${API}/notifications/preferences`)
      .set('Authorization', me)
      .send({
        categories: { promotion: false, booking: false },
        quietHours: { start: '22:30', end: '07:00', timezone: 'America/New_York' },
      })
      .expect(200);
    expect(saved.body).toEqual({
      enabled: true,
      categories: { message: true, booking: false, announcement: true, promotion: false, system: true },
      quietHours: { start: '22:30', end: '07:00', timezone: 'America/New_York' },
    });
    expect((await request(t.url).get(`${API}/notifications/preferences`).set('Authorization', me).expect(200)).body).toEqual(saved.body);
    // PUT replaces the document.
    const off = await request(t.url).put(`${API}/notifications/preferences`).set('Authorization', me).send({ enabled: false }).expect(200);
    expect(off.body).toMatchObject({ enabled: false, quietHours: null, categories: { promotion: true } });

    const bad: [Record<string, unknown>, string][] = [
      [{ quietHours: { start: '22:00', end: '07:00', timezone: 'Not/AZone' } }, 'quietHours.timezone'],
      [{ quietHours: { start: '25:00', end: '07:00', timezone: 'UTC' } }, 'quietHours.start'],
      [{ quietHours: { start: '07:00', end: '07:00', timezone: 'UTC' } }, 'quietHours'],
      [{ categories: { promotion: 'no' } }, 'categories.promotion'],
      [{ categories: { newsletter: false } }, 'categories.newsletter'],
      [{ enabled: 'yes' }, 'enabled'],
    ];
    for (const [body, field] of bad) {
      const res = await request(t.url).put(`${API}/notifications/preferences`).set('Authorization', me).send(body).expect(400);
      expect(res.body).toMatchObject({ code: 'validation_failed', requestId: expect.any(String) });
      expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
    }
  });

  describe('POST /admin/notify validation', () => {
    const bad: [string, Record<string, unknown>, string][] = [
      ['non-string data values', { userIds: ['u'], title: 't', category: 'message', data: { count: 3 } }, 'data'],
      ['nested data', { userIds: ['u'], title: 't', category: 'message', data: { a: { b: 'c' } } }, 'data'],
      ['a reserved data key', { userIds: ['u'], title: 't', category: 'message', data: { from: 'x' } }, 'data'],
      ['an unknown category', { userIds: ['u'], title: 't', category: 'newsletter' }, 'category'],
      ['a missing category', { userIds: ['u'], title: 't' }, 'category'],
      ['an unknown priority', { userIds: ['u'], title: 't', category: 'message', priority: 'urgent' }, 'priority'],
      ['an unknown role', { roles: ['OWNER'], title: 't', category: 'message' }, 'roles'],
      ['no recipients', { title: 't', category: 'message' }, 'recipients'],
      ['two kinds of recipients', { userIds: ['u'], tenant: true, title: 't', category: 'message' }, 'recipients'],
      ['tenant: false', { tenant: false, title: 't', category: 'message' }, 'tenant'],
      ['an empty user list', { userIds: [], title: 't', category: 'message' }, 'userIds'],
      ['a topic with a slash', { topic: 'a/b', title: 't', category: 'message' }, 'topic'],
      ['nothing to say', { userIds: ['u'], category: 'message' }, 'title'],
      ['a TTL beyond 28 days', { userIds: ['u'], title: 't', category: 'message', ttlSeconds: 29 * 86400 }, 'ttlSeconds'],
      ['an oversized body for a topic', { topic: 'news', title: 't', body: 'x'.repeat(1990), category: 'announcement' }, 'body'],
    ];
    it.each(bad)('answers 400 validation_failed for %s', async (_name, body, field) => {
      const res = await notify(body, 400);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'validation_failed', requestId: expect.any(String) });
      expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
    });

    it('accepts a silent data-only notification to the whole tenant', async () => {
      const res = await notify({ tenant: true, data: { sync: 'events' }, category: 'system', priority: 'low' });
      expect(res.body).toEqual({ notificationId: expect.any(String), duplicate: false, inboxCount: 0 });
    });
  });

  it('lets realtime subscribe to new notifications through NotificationEvents', async () => {
    const { NotificationEvents } = await import('../src/modules/notifications/notification-events');
    const seen: unknown[] = [];
    const off = t.app.get(NotificationEvents).onCreated((e) => void seen.push(e));
    const failing = t.app.get(NotificationEvents).onCreated(() => {
      throw new Error('listener bug');
    });
    try {
      const { notificationId } = (await notify({ userIds: ['listener-user'], title: 'hi', category: 'message' })).body;
      expect(seen).toEqual([expect.objectContaining({ notificationId, tenantId: tenant, userIds: ['listener-user'], title: 'hi' })]);
    } finally {
      off();
      failing();
    }
  });

  it('emits notification:new to the recipient’s sockets, and only theirs', async () => {
    const mine = await connect(t.url, await t.token({ sub: 'socket-user', tid: tenant }));
    const other = await connect(t.url, await t.token({ sub: 'bystander', tid: tenant }));
    try {
      const seenByOther = record(other);
      const got = next<any>(mine, 'notification:new');
      const { notificationId } = (
        await notify({ userIds: ['socket-user'], title: 'ping', body: 'you have mail', category: 'message', data: { k: 'v' } })
      ).body;
      const [payload, meta] = await got;
      expect(payload).toEqual({
        id: notificationId,
        title: 'ping',
        body: 'you have mail',
        category: 'message',
        data: { k: 'v' },
        createdAt: expect.any(String),
      });
      // The delivery id acknowledging clients answer (README "Delivery"); others may ignore it.
      expect(meta).toEqual({ channel: 'user:socket-user', offset: expect.any(String), deliveryId: `n:${payload.id}` });
      await sleep(100);
      expect(seenByOther.filter(([e]) => e === 'notification:new')).toEqual([]);
    } finally {
      mine.close();
      other.close();
    }
  });

  it('documents the endpoints in OpenAPI', async () => {
    const { body } = await request(t.url).get('/docs-json').expect(200);
    for (const path of [
      '/notifications',
      '/notifications/preferences',
      '/notifications/{id}/read',
      '/notifications/read-all',
      '/admin/notify',
      '/admin/queues',
    ])
      expect(Object.keys(body.paths)).toContain(`${API}${path}`);
    expect(Object.keys(body.paths[`${API}/admin/notify`].post.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '403']));
    expect(body.components.schemas.AdminNotifyDto.properties.category.enum).toEqual([
      'message',
      'booking',
      'announcement',
      'promotion',
      'system',
    ]);
  });
});
