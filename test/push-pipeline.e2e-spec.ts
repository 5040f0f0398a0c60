import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { roleTopic, tenantTopic } from '../src/modules/devices/device-topics';
import { DEVICES_QUEUE, JOB_MAINTENANCE } from '../src/modules/devices/devices.jobs';
import { DELIVERY_QUEUE, NOTIFICATIONS_QUEUE } from '../src/modules/notifications/notifications.jobs';
import { PushDeliveryProcessor } from '../src/modules/notifications/push-delivery.processor';
import { deleteRedisKeys, eventually, sleep } from '../tools/scratch';
import { fcmFailure, ScriptedPushSender } from './support/scripted-push-sender';
import { ownerView, startPushTestApp, TestApp } from './support/test-app';

const run = Date.now().toString(36);
const API = '/api/mobile/v1';

function queueOf(t: TestApp, name: string): Queue {
  return t.app.get<Queue>(getQueueToken(name), { strict: false });
}

async function jobCompleted(t: TestApp, queue: string, id: string): Promise<boolean> {
  return (await queueOf(t, queue).getJob(id))?.isCompleted() ?? false;
}

/** Seed 000's client call, as written (platform is React Native's Platform.OS). */
async function registerDevice(
  t: TestApp,
  user: string,
  token: string,
  opts: { tenant?: string; roles?: string[]; platform?: string } = {},
) {
  const auth = await t.token({ sub: user, tid: opts.tenant ?? `pipe-${run}`, roles: opts.roles ?? ['MEMBER'] });
  const response = await fetch(`${t.url}${API}/devices/register`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${auth}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ token, platform: opts.platform ?? 'ios', appVersion: '1.0.0' }),
  });
  expect(response.ok).toBe(true);
  return (await response.json()) as { id: string; active: boolean };
}

describe('push pipeline (scripted FCM)', () => {
  const sender = new ScriptedPushSender();
  const tenant = `pipe-${run}`;
  let t: TestApp;
  let service: string;

  const notify = async (body: Record<string, unknown>, tid = tenant) => {
    const auth = await t.token({ sub: 'backend', tid, roles: ['SERVICE'] });
    const res = await request(t.url).post(`${API}/admin/notify`).set('Authorization', `Bearer ${auth}`).send(body);
    expect(res.status).toBe(202);
    return res.body as { notificationId: string; duplicate: boolean; inboxCount: number };
  };
  const fannedOut = (id: string) =>
    eventually(() => jobCompleted(t, NOTIFICATIONS_QUEUE, `n-${id}`), { timeoutMs: 10_000, what: `fan-out of ${id}` });

  beforeAll(async () => {
    t = await startPushTestApp(sender);
    service = `Bearer ${await t.token({ sub: 'backend', tid: tenant, roles: ['SERVICE'] })}`;
  });
  afterAll(() => t.close());

  it('registers two devices, notifies the user, and pushes to both through the queue', async () => {
    await registerDevice(t, 'u-a', `tok-a1-${run}`, { platform: 'android' });
    await registerDevice(t, 'u-a', `tok-a2-${run}`, { platform: 'ios' });
    const { notificationId, inboxCount } = await notify({
      userIds: ['u-a'],
      title: 'Hello',
      body: 'World',
      data: { screen: 'home' },
      category: 'message',
      priority: 'high',
    });
    expect(inboxCount).toBe(1);
    await eventually(() => sender.sentTo(`tok-a1-${run}`).length === 1 && sender.sentTo(`tok-a2-${run}`).length === 1, {
      timeoutMs: 10_000,
      what: 'both sends',
    });
    const { payload } = sender.sentTo(`tok-a1-${run}`)[0];
    expect(payload).toMatchObject({ title: 'Hello', body: 'World', priority: 'high' });
    // The data carries what the app needs to open the notification, and nothing about the user.
    expect(payload.data).toEqual({ screen: 'home', notificationId, category: 'message' });
  });

  it('deactivates a not-registered token at once and retries only the transient failure, which then succeeds', async () => {
    const dead = `tok-b-dead-${run}`;
    const flaky = `tok-b-flaky-${run}`;
    await registerDevice(t, 'u-b', dead);
    await registerDevice(t, 'u-b', flaky);
    sender.script(dead, fcmFailure('messaging/registration-token-not-registered', 'Requested entity was not found.'));
    sender.script(flaky, fcmFailure('messaging/server-unavailable'));
    await notify({ userIds: ['u-b'], title: 'Retry me', category: 'booking' });

    await eventually(() => sender.sentTo(flaky).length === 2, { timeoutMs: 10_000, what: 'the retry of the transient failure' });
    expect(sender.sentTo(flaky).map((s) => s.ok)).toEqual([false, true]);
    expect(sender.sentTo(dead)).toHaveLength(1); // never retried

    const auth = `Bearer ${await t.token({ sub: 'u-b', tid: tenant })}`;
    const { body } = await request(t.url).get(`${API}/devices`).set('Authorization', auth).expect(200);
    const byToken = Object.fromEntries(body.devices.map((d: { token: string }) => [d.token, d]));
    expect(byToken[dead]).toMatchObject({ active: false, deactivationReason: 'messaging/registration-token-not-registered' });
    expect(byToken[flaky]).toMatchObject({ active: true });

    // A later notification skips the dead device.
    const later = await notify({ userIds: ['u-b'], title: 'Again', category: 'booking' });
    await fannedOut(later.notificationId);
    await eventually(() => sender.sentTo(flaky).length === 3, { timeoutMs: 10_000, what: 'the later send' });
    expect(sender.sentTo(dead)).toHaveLength(1);

    const metrics = (await request(t.url).get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/tether_push_tokens_deactivated_total\{reason="messaging\/registration-token-not-registered"\} [1-9]/);
    expect(metrics).toMatch(/tether_push_retried_total\{reason="messaging\/server-unavailable"\} [1-9]/);
    expect(metrics).toMatch(/tether_push_sent_total\{provider="fcm"\} [1-9]/);
    expect(metrics).toMatch(/tether_push_send_duration_seconds_count\{provider="fcm"\} [1-9]/);
  });

  it('writes the inbox entry but pushes nothing for a muted category', async () => {
    const token = `tok-c-${run}`;
    await registerDevice(t, 'u-c', token);
    const auth = `Bearer ${await t.token({ sub: 'u-c', tid: tenant })}`;
    await request(t.url)
      .put(`${API}/notifications/preferences`)
      .set('Authorization', auth)
      .send({ categories: { promotion: false } })
      .expect(200);

    const muted = await notify({ userIds: ['u-c'], title: '50% off', category: 'promotion' });
    await fannedOut(muted.notificationId);
    const wanted = await notify({ userIds: ['u-c'], title: 'New message', category: 'message' });
    await eventually(() => sender.sentTo(token).length === 1, { timeoutMs: 10_000, what: 'the unmuted send' });
    expect(sender.sentTo(token)[0].payload.data.notificationId).toBe(wanted.notificationId);

    const inbox = await request(t.url).get(`${API}/notifications`).set('Authorization', auth).expect(200);
    expect(inbox.body.items.map((i: { id: string }) => i.id)).toEqual([wanted.notificationId, muted.notificationId]);
    expect(inbox.body.unreadCount).toBe(2);
  });

  it('holds pushes in quiet hours, except high priority system ones', async () => {
    const token = `tok-q-${run}`;
    await registerDevice(t, 'u-q', token);
    const auth = `Bearer ${await t.token({ sub: 'u-q', tid: tenant })}`;
    // A window covering the whole day but one minute, so "now" is inside it.
    const now = new Date();
    const clock = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const start = clock(new Date(now.getTime() - 60 * 60_000));
    const end = clock(new Date(now.getTime() + 60 * 60_000));
    await request(t.url)
      .put(`${API}/notifications/preferences`)
      .set('Authorization', auth)
      .send({ quietHours: { start, end, timezone: 'UTC' } })
      .expect(200);
    const quiet = await notify({ userIds: ['u-q'], title: 'Shh', category: 'system', priority: 'normal' });
    await fannedOut(quiet.notificationId);
    const urgent = await notify({ userIds: ['u-q'], title: 'Security alert', category: 'system', priority: 'high' });
    await eventually(() => sender.sentTo(token).length === 1, { timeoutMs: 10_000, what: 'the urgent send' });
    expect(sender.sentTo(token)[0].payload.data.notificationId).toBe(urgent.notificationId);
  });

  it('sends once when the same idempotency key is used twice', async () => {
    const token = `tok-i-${run}`;
    await registerDevice(t, 'u-i', token);
    const body = { userIds: ['u-i'], title: 'Once', category: 'announcement', idempotencyKey: `key-${run}` };
    const first = await notify(body);
    const second = await notify(body);
    expect(second).toEqual({ notificationId: first.notificationId, duplicate: true, inboxCount: 0 });
    await fannedOut(first.notificationId);
    await eventually(() => sender.sentTo(token).length === 1, { timeoutMs: 10_000, what: 'the send' });
    const third = await notify(body); // after delivery too
    expect(third.notificationId).toBe(first.notificationId);
    await sleep(300);
    expect(sender.sentTo(token)).toHaveLength(1);
    const auth = `Bearer ${await t.token({ sub: 'u-i', tid: tenant })}`;
    const inbox = await request(t.url).get(`${API}/notifications`).set('Authorization', auth).expect(200);
    expect(inbox.body.items).toHaveLength(1);
  });

  it('fans out role and whole-tenant notifications to devices, and sends topic notifications once', async () => {
    const roleTenant = `roles-${run}`;
    await registerDevice(t, 'm1', `tok-m1-${run}`, { tenant: roleTenant, roles: ['MEMBER'] });
    await registerDevice(t, 'l1', `tok-l1-${run}`, { tenant: roleTenant, roles: ['LEADER'] });
    await registerDevice(t, 'x1', `tok-x1-${run}`, { tenant: `other-${run}`, roles: ['LEADER'] });

    await notify({ roles: ['LEADER'], title: 'Leaders', category: 'announcement' }, roleTenant);
    await eventually(() => sender.sentTo(`tok-l1-${run}`).length === 1, { timeoutMs: 10_000, what: 'the leader send' });
    await notify({ tenant: true, title: 'Everyone', category: 'announcement' }, roleTenant);
    await eventually(() => sender.sentTo(`tok-m1-${run}`).length === 1 && sender.sentTo(`tok-l1-${run}`).length === 2, {
      timeoutMs: 10_000,
      what: 'tenant sends',
    });
    expect(sender.sentTo(`tok-x1-${run}`)).toHaveLength(0); // another tenant's leader

    await notify({ topic: 'role-member', title: 'Members', category: 'announcement' }, roleTenant);
    await notify({ tenant: true, viaTopic: true, title: 'All', category: 'announcement' }, roleTenant);
    await eventually(() => sender.topicSends.length >= 2, { timeoutMs: 10_000, what: 'topic sends' });
    expect(sender.topicSends.map((s) => s.topic).sort()).toEqual([roleTopic(roleTenant, 'MEMBER'), tenantTopic(roleTenant)].sort());
  });

  it('subscribes a token to its tenant and role topics, and redoes it when the token moves to another user', async () => {
    const topicTenant = `topics-${run}`;
    const token = `tok-t-${run}`;
    await registerDevice(t, 'owner1', token, { tenant: topicTenant, roles: ['MEMBER'] });
    const subscribed = (topic: string) =>
      sender.topicCalls.some((c) => c.op === 'subscribe' && c.topic === topic && c.tokens.includes(token));
    await eventually(() => subscribed(tenantTopic(topicTenant)) && subscribed(roleTopic(topicTenant, 'MEMBER')), {
      timeoutMs: 10_000,
      what: 'subscriptions',
    });
    expect(roleTopic(topicTenant, 'MEMBER')).toBe(`t-topics%2D${run}-role-member`);

    // Another user (a leader) signs in on the same phone: the device moves, and so do its topics.
    await registerDevice(t, 'owner2', token, { tenant: topicTenant, roles: ['LEADER'] });
    await eventually(
      () =>
        subscribed(roleTopic(topicTenant, 'LEADER')) &&
        sender.topicCalls.some((c) => c.op === 'unsubscribe' && c.topic === roleTopic(topicTenant, 'MEMBER') && c.tokens.includes(token)),
      { timeoutMs: 10_000, what: 'resubscription' },
    );
    const first = `Bearer ${await t.token({ sub: 'owner1', tid: topicTenant })}`;
    const second = `Bearer ${await t.token({ sub: 'owner2', tid: topicTenant })}`;
    expect((await request(t.url).get(`${API}/devices`).set('Authorization', first).expect(200)).body.devices).toEqual([]);
    const [device] = (await request(t.url).get(`${API}/devices`).set('Authorization', second).expect(200)).body.devices;
    expect(device.token).toBe(token);

    // Logout unsubscribes it.
    await request(t.url).delete(`${API}/devices/${device.id}`).set('Authorization', second).expect(204);
    await eventually(
      () => sender.topicCalls.some((c) => c.op === 'unsubscribe' && c.topic === tenantTopic(topicTenant) && c.tokens.includes(token)),
      { timeoutMs: 10_000, what: 'unsubscription at logout' },
    );
  });

  it('prunes devices not seen for DEVICE_STALE_DAYS with the repeatable maintenance job', async () => {
    const stale = await registerDevice(t, 'u-s', `tok-stale-${run}`);
    const fresh = await registerDevice(t, 'u-s', `tok-fresh-${run}`);
    const ds = ownerView(t.app.get(DataSource));
    await ds.query(`UPDATE devices SET last_seen_at = now() - interval '61 days' WHERE id = $1`, [stale.id]);
    const queue = queueOf(t, DEVICES_QUEUE);
    expect(await queue.getJobScheduler('device-maintenance')).toMatchObject({ every: 6 * 3600 * 1000 });
    const job = await queue.add(JOB_MAINTENANCE, {});
    await eventually(() => job.isCompleted(), { timeoutMs: 10_000, what: 'maintenance' });
    const rows: { id: string }[] = await ds.query(`SELECT id FROM devices WHERE id = ANY($1::uuid[])`, [[stale.id, fresh.id]]);
    expect(rows.map((r) => r.id)).toEqual([fresh.id]);
  });

  it('reports its queues in /health, /admin/queues and rejects members there', async () => {
    const health = await request(t.url).get('/health').expect(200);
    expect(health.body.details.queues).toMatchObject({
      status: 'up',
      notifications: { depth: expect.any(Number), failed: expect.any(Number) },
      'push-delivery': { depth: expect.any(Number), failed: expect.any(Number) },
      devices: { depth: expect.any(Number), failed: expect.any(Number) },
    });
    const queues = await request(t.url).get(`${API}/admin/queues`).set('Authorization', service).expect(200);
    expect(queues.body.queues.map((q: { name: string }) => q.name).sort()).toEqual(
      [DEVICES_QUEUE, NOTIFICATIONS_QUEUE, DELIVERY_QUEUE].sort(),
    );
    expect(queues.body.queues[0].counts).toEqual(
      expect.objectContaining({ waiting: expect.any(Number), completed: expect.any(Number), failed: expect.any(Number) }),
    );
    const member = `Bearer ${await t.token({ sub: 'u-a', tid: tenant })}`;
    await request(t.url).get(`${API}/admin/queues`).set('Authorization', member).expect(403);
    await request(t.url)
      .post(`${API}/admin/notify`)
      .set('Authorization', member)
      .send({ tenant: true, title: 'x', category: 'system' })
      .expect(403);
  });
});

describe('a worker that dies mid-job', () => {
  // Its own queues: a stalled-job check of another app (30 s interval) would hold off this one's.
  const prefix = `${process.env.REDIS_KEY_PREFIX}-crash`;
  const env = { PUSH_LOCK_MS: '1000', REDIS_KEY_PREFIX: prefix };
  afterAll(() => deleteRedisKeys(process.env.REDIS_URL!, `${prefix}:*`));

  it('leaves the job to be taken over and finished by another worker, not lost', async () => {
    const senderA = new ScriptedPushSender();
    const senderB = new ScriptedPushSender();
    const tenant = `crash-${run}`;
    const token = `tok-crash-${run}`;
    const a = await startPushTestApp(senderA, env);
    let b: TestApp | undefined;
    const release = senderA.hang(token);
    try {
      await registerDevice(a, 'u-crash', token, { tenant });
      const auth = await a.token({ sub: 'backend', tid: tenant, roles: ['SERVICE'] });
      await request(a.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', `Bearer ${auth}`)
        .send({ userIds: ['u-crash'], title: 'Survive', category: 'system' })
        .expect(202);
      await eventually(() => senderA.sentTo(token).length === 1, { timeoutMs: 10_000, what: 'the send in flight' });

      // The delivery worker goes away without finishing (as in a crash): no completion, no lock renewal.
      await a.app.get(PushDeliveryProcessor).worker.close(true);
      b = await startPushTestApp(senderB, env);
      await eventually(() => senderB.sentTo(token).length === 1, { timeoutMs: 15_000, what: 'the takeover' });
      const queue = queueOf(b, DELIVERY_QUEUE);
      const [job] = (await queue.getJobs(['completed', 'active', 'waiting'])).filter(
        (j) => j.data.deviceIds?.length && j.data.tenantId === tenant,
      );
      await eventually(() => job.isCompleted(), { timeoutMs: 5000, what: 'completion' });
      expect((await queue.getJob(job.id!))!.attemptsStarted).toBeGreaterThanOrEqual(2);
    } finally {
      release();
      await a.close();
      await b?.close();
    }
  });
});

describe('TETHER_ROLE=api', () => {
  const prefix = `${process.env.REDIS_KEY_PREFIX}-api`;
  afterAll(() => deleteRedisKeys(process.env.REDIS_URL!, `${prefix}:*`));

  it('enqueues notifications but runs no worker', async () => {
    const sender = new ScriptedPushSender();
    const api = await startPushTestApp(sender, { TETHER_ROLE: 'api', REDIS_KEY_PREFIX: prefix });
    try {
      await registerDevice(api, 'u-api', `tok-api-${run}`, { tenant: `api-${run}` });
      const auth = await api.token({ sub: 'backend', tid: `api-${run}`, roles: ['SERVICE'] });
      await request(api.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', `Bearer ${auth}`)
        .send({ userIds: ['u-api'], title: 'Queued', category: 'message' })
        .expect(202);
      const queues = await request(api.url).get(`${API}/admin/queues`).set('Authorization', `Bearer ${auth}`).expect(200);
      const notifications = queues.body.queues.find((q: { name: string }) => q.name === NOTIFICATIONS_QUEUE);
      expect(notifications.counts.waiting).toBe(1);
      expect(await queueOf(api, NOTIFICATIONS_QUEUE).getWorkersCount()).toBe(0);
      await sleep(300);
      expect(sender.sends).toHaveLength(0);
      expect(() => api.app.get(PushDeliveryProcessor).worker).toThrow();
    } finally {
      await api.close();
    }
  });
});
