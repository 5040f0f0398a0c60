import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { App, deleteApp, initializeApp } from 'firebase-admin/app';
import { getMessaging } from 'firebase-admin/messaging';
import http2 from 'node:http2';
import nock from 'nock';
import request from 'supertest';
import { FirebasePushSender } from '../src/modules/devices/push/firebase-push-sender';
import { DELIVERY_QUEUE } from '../src/modules/notifications/notifications.jobs';
import { eventually } from '../tools/scratch';
import { startPushTestApp, TestApp } from './support/test-app';

const run = Date.now().toString(36);
const PROJECT = 'demo-tether';
const API = '/api/mobile/v1';
const SEND_PATH = `/v1/projects/${PROJECT}/messages:send`;

/** What FCM v1 answers for an error, as firebase-admin parses it. */
function fcmError(status: number, grpcStatus: string, errorCode: string, message: string) {
  return {
    error: {
      code: status,
      status: grpcStatus,
      message,
      details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }],
    },
  };
}

// The SDK's default transport is HTTP/2, which nock cannot see: make sure it can never reach Google.
const http2Connect = jest.spyOn(http2, 'connect').mockImplementation(() => {
  throw new Error('HTTP/2 is blocked in tests: nothing may reach the network');
});

describe('FCM through the real firebase-admin SDK (HTTP/1.1 transport, nock)', () => {
  const apps: App[] = [];
  const tokens = {
    live: `live-${run}`,
    gone: `gone-${run}`,
    bad: `bad-${run}`,
    flaky: `flaky-${run}`,
    busy: `busy-${run}`,
    badCredentials: `cfg-${run}`,
  };
  const requests: { token: string; message: Record<string, any>; authorization: string }[] = [];
  const topicCalls: { path: string; to: string; tokens: string[] }[] = [];
  const callsTo = (token: string) => requests.filter((r) => r.token === token).length;
  let t: TestApp;

  function firebaseApp(name: string): App {
    const app = initializeApp(
      { credential: { getAccessToken: async () => ({ access_token: 'ya29.fake', expires_in: 3600 }) }, projectId: PROJECT },
      `${name}-${run}`,
    );
    apps.push(app);
    return app;
  }

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    nock('https://fcm.googleapis.com')
      .post(SEND_PATH)
      .times(1000)
      .reply(function (_uri, body) {
        const message = (body as { message: Record<string, any> }).message;
        const token = message.token as string;
        requests.push({ token, message, authorization: String(this.req.headers.authorization) });
        const attempt = callsTo(token);
        switch (token) {
          case tokens.gone:
            return [404, fcmError(404, 'NOT_FOUND', 'UNREGISTERED', 'Requested entity was not found.')];
          case tokens.bad:
            return [
              400,
              fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token'),
            ];
          case tokens.flaky:
            // A Retry-After beyond the SDK's 60 s ceiling: the SDK gives up at once and Tether's queue retries.
            return attempt === 1
              ? [503, fcmError(503, 'UNAVAILABLE', 'UNAVAILABLE', 'The service is currently unavailable.'), { 'Retry-After': '120' }]
              : [200, { name: `projects/${PROJECT}/messages/flaky-${attempt}` }];
          case tokens.busy:
            return attempt === 1
              ? [429, fcmError(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED', 'Quota exceeded for quota metric')]
              : [200, { name: `projects/${PROJECT}/messages/busy-${attempt}` }];
          case tokens.badCredentials:
            return [401, fcmError(401, 'UNAUTHENTICATED', 'THIRD_PARTY_AUTH_ERROR', 'Auth error from APNS or Web Push Service')];
          default:
            return [200, { name: `projects/${PROJECT}/messages/${attempt}` }];
        }
      });
    for (const path of ['/iid/v1:batchAdd', '/iid/v1:batchRemove']) {
      nock('https://iid.googleapis.com')
        .post(path)
        .times(100)
        .reply(200, (_uri, body) => {
          const { to, registration_tokens } = body as { to: string; registration_tokens: string[] };
          topicCalls.push({ path, to, tokens: registration_tokens });
          return { results: registration_tokens.map(() => ({})) };
        });
    }

    const messaging = getMessaging(firebaseApp('fcm-e2e'));
    messaging.enableLegacyHttpTransport();
    t = await startPushTestApp(new FirebasePushSender(messaging, PROJECT));
  });

  afterAll(async () => {
    await t?.close();
    await Promise.all(apps.map((a) => deleteApp(a)));
    nock.cleanAll();
    nock.enableNetConnect();
    nock.restore();
    http2Connect.mockRestore();
  });

  async function register(user: string, token: string, platform = 'android') {
    const auth = await t.token({ sub: user, tid: `fcm-${run}` });
    await request(t.url).post(`${API}/devices/register`).set('Authorization', `Bearer ${auth}`).send({ token, platform }).expect(200);
  }
  async function devicesOf(user: string): Promise<Record<string, { active: boolean; deactivationReason: string | null }>> {
    const auth = await t.token({ sub: user, tid: `fcm-${run}` });
    const { body } = await request(t.url).get(`${API}/devices`).set('Authorization', `Bearer ${auth}`).expect(200);
    return Object.fromEntries(body.devices.map((d: { token: string }) => [d.token, d]));
  }
  async function notify(body: Record<string, unknown>) {
    const auth = await t.token({ sub: 'backend', tid: `fcm-${run}`, roles: ['SERVICE'] });
    return (await request(t.url).post(`${API}/admin/notify`).set('Authorization', `Bearer ${auth}`).send(body).expect(202)).body;
  }

  it('classifies success, not-registered, invalid-argument, unavailable and quota answers and acts on each', async () => {
    await register('fcm-user', tokens.live);
    await register('fcm-user', tokens.gone, 'ios');
    await register('fcm-user', tokens.bad);
    await register('fcm-user', tokens.flaky, 'ios');
    await register('fcm-user', tokens.busy, 'web');
    const { notificationId } = await notify({
      userIds: ['fcm-user'],
      title: 'Doors open',
      body: 'See you at 10',
      data: { screen: 'events' },
      category: 'announcement',
      priority: 'high',
      collapseKey: 'doors',
      ttlSeconds: 3600,
    });

    await eventually(() => callsTo(tokens.flaky) === 2 && callsTo(tokens.busy) === 2, {
      timeoutMs: 15_000,
      what: 'retries of unavailable and quota',
    });
    // Success and permanent errors are sent once; the retry carried only the two transient tokens.
    expect(callsTo(tokens.live)).toBe(1);
    expect(callsTo(tokens.gone)).toBe(1);
    expect(callsTo(tokens.bad)).toBe(1);

    // The quota error paused the whole queue through BullMQ's rate limiter, lifted once the retry went through.
    const delivery = t.app.get<Queue>(getQueueToken(DELIVERY_QUEUE), { strict: false });
    await eventually(async () => (await delivery.getGlobalRateLimit()) === null, { timeoutMs: 5000, what: 'the quota slow-down to end' });

    const devices = await devicesOf('fcm-user');
    expect(devices[tokens.live]).toMatchObject({ active: true });
    expect(devices[tokens.flaky]).toMatchObject({ active: true });
    expect(devices[tokens.busy]).toMatchObject({ active: true });
    expect(devices[tokens.gone]).toMatchObject({ active: false, deactivationReason: 'messaging/registration-token-not-registered' });
    expect(devices[tokens.bad]).toMatchObject({ active: false, deactivationReason: 'messaging/invalid-argument' });

    // The wire format: OAuth token, priorities, collapse key, TTL, and only title, body and ids.
    const sent = requests.find((r) => r.token === tokens.live)!;
    expect(sent.authorization).toBe('Bearer ya29.fake');
    expect(sent.message.notification).toEqual({ title: 'Doors open', body: 'See you at 10' });
    expect(sent.message.data).toEqual({ screen: 'events', notificationId, category: 'announcement' });
    expect(sent.message.android).toMatchObject({ priority: 'high', collapse_key: 'doors' });
    expect(sent.message.android.ttl).toMatch(/^3[0-9]{3}(\.[0-9]+)?s$/);
    expect(sent.message.apns.headers).toMatchObject({ 'apns-priority': '10', 'apns-push-type': 'alert', 'apns-collapse-id': 'doors' });
    expect(Number(sent.message.apns.headers['apns-expiration'])).toBeGreaterThan(Date.now() / 1000);
    expect(sent.message.webpush.headers).toMatchObject({ Urgency: 'high' });

    const metrics = (await request(t.url).get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/tether_push_retried_total\{reason="messaging\/server-unavailable"\} 1/);
    expect(metrics).toMatch(/tether_push_retried_total\{reason="messaging\/message-rate-exceeded"\} 1/);
    expect(metrics).toMatch(/tether_push_tokens_deactivated_total\{reason="messaging\/invalid-argument"\} 1/);
    expect(metrics).toMatch(/tether_push_sent_total\{provider="fcm"\} 3/);

    // Registration subscribed the tokens to their tenant and role topics through the SDK as well.
    await eventually(
      () =>
        topicCalls.some(
          (c) => c.path === '/iid/v1:batchAdd' && c.to === `/topics/t-fcm%2D${run}-role-member` && c.tokens.includes(tokens.live),
        ),
      { timeoutMs: 10_000, what: 'the role topic subscription' },
    );
  });

  it('puts the sound and each recipient’s unread count in the APNs block, and the caller’s badge and sound when given', async () => {
    const tenant = `fcm-${run}`;
    const token = `ios-badge-${run}`;
    const messagesTo = () => requests.filter((r) => r.token === token).map((r) => r.message);
    await register('fcm-badge', token, 'ios');
    await notify({ userIds: ['fcm-badge'], title: 'Doors open', category: 'announcement' });
    await notify({ userIds: ['fcm-badge'], title: 'Parking', body: 'Lot B', category: 'announcement' });
    await eventually(() => messagesTo().length === 2, { timeoutMs: 10_000, what: 'two pushes' });
    const badges = messagesTo().map((m) => m.apns.payload.aps.badge);
    // Counted when each fans out: the first saw one or both unread entries, the second both.
    expect(badges[0]).toBeGreaterThanOrEqual(1);
    expect(Math.max(...badges)).toBe(2);
    for (const m of messagesTo()) expect(m.apns.payload.aps.sound).toBe('default');

    // A message push: the sender's display name (set by the host), the text, the badge with the unread message.
    const service = await t.token({ sub: 'backend', tid: tenant, roles: ['SERVICE'] });
    await request(t.url)
      .put(`${API}/users/fcm-writer/profile`)
      .set('Authorization', `Bearer ${service}`)
      .send({ displayName: 'Grace Hopper' })
      .expect(200);
    const writer = `Bearer ${await t.token({ sub: 'fcm-writer', tid: tenant })}`;
    const conversation = await request(t.url)
      .post(`${API}/conversations`)
      .set('Authorization', writer)
      .send({ type: 'direct', participantIds: ['fcm-badge'] });
    await request(t.url)
      .post(`${API}/conversations/${conversation.body.id}/messages`)
      .set('Authorization', writer)
      .send({ content: 'Lunch?' })
      .expect(201);
    await eventually(() => messagesTo().length === 3, { timeoutMs: 10_000, what: 'the message push' });
    expect(messagesTo()[2]).toMatchObject({
      notification: { title: 'Grace Hopper', body: 'Lunch?' },
      apns: { headers: { 'apns-priority': '10', 'apns-push-type': 'alert' }, payload: { aps: { sound: 'default', badge: 3 } } },
    });

    // The caller's own: the same badge for every recipient, a sound of the app, or none.
    await notify({ userIds: ['fcm-badge'], title: 'Cleared', category: 'system', badge: 0, sound: 'chime.caf' });
    await notify({ userIds: ['fcm-badge'], title: 'Quiet', category: 'system', sound: 'none', priority: 'low' });
    await eventually(() => messagesTo().length === 5, { timeoutMs: 10_000, what: 'two more pushes' });
    const last = messagesTo().slice(3);
    expect(last.find((m) => m.notification.title === 'Cleared')!.apns.payload).toEqual({ aps: { badge: 0, sound: 'chime.caf' } });
    expect(last.find((m) => m.notification.title === 'Quiet')!.apns.payload.aps).toEqual({ badge: expect.any(Number) });
  });

  it('fails the job without retrying or deleting tokens on a credentials error', async () => {
    await register('fcm-cfg', tokens.badCredentials);
    await notify({ userIds: ['fcm-cfg'], title: 'x', category: 'system' });
    const queue = t.app.get<Queue>(getQueueToken(DELIVERY_QUEUE), { strict: false });
    const failed = await eventually(async () => (await queue.getFailed()).find((j) => j.failedReason?.includes('third-party-auth-error')), {
      timeoutMs: 10_000,
      what: 'the failed job',
    });
    expect(failed.attemptsMade).toBe(1);
    expect(callsTo(tokens.badCredentials)).toBe(1);
    expect((await devicesOf('fcm-cfg'))[tokens.badCredentials]).toMatchObject({ active: true });
  });

  it('sends silent data messages as APNs background pushes', async () => {
    const sender = new FirebasePushSender(getMessaging(apps[0]), PROJECT);
    const before = requests.length;
    const [outcome] = await sender.send({ data: { sync: 'events' }, priority: 'high', createdAt: Date.now() }, [
      { token: tokens.live, platform: 'ios' },
    ]);
    expect(outcome).toEqual({ ok: true });
    const { message } = requests[before];
    expect(message.notification).toBeUndefined();
    expect(message.apns).toEqual({
      headers: { 'apns-priority': '5', 'apns-push-type': 'background' },
      payload: { aps: { 'content-available': 1 } },
    });
  });

  it('turns a rejected batch (HTTP/2 session failure) into a retry for every token, never a deactivation', async () => {
    const sender = new FirebasePushSender(getMessaging(firebaseApp('fcm-h2')), PROJECT); // default HTTP/2 transport
    const outcomes = await sender.send({ title: 'x', data: {}, priority: 'normal', createdAt: Date.now() }, [
      { token: tokens.live, platform: 'android' },
      { token: tokens.gone, platform: 'ios' },
    ]);
    expect(http2Connect).toHaveBeenCalled();
    expect(outcomes).toEqual([
      expect.objectContaining({ ok: false, kind: 'retry' }),
      expect.objectContaining({ ok: false, kind: 'retry' }),
    ]);
  });
});
