import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { tenantTopic } from '../src/modules/devices/device-topics';
import { tokenHash } from '../src/modules/devices/devices.repository';
import { DELIVERY_QUEUE } from '../src/modules/notifications/notifications.jobs';
import { eventually, sleep } from '../tools/scratch';
import { FakeExpo } from './support/fake-expo';
import { messagingClient } from './support/messaging';
import { ScriptedPushSender } from './support/scripted-push-sender';
import { ownerView, startPushTestApp, TestApp } from './support/test-app';

const run = Date.now().toString(36);
const API = '/api/mobile/v1';
const expoToken = (name: string) => `ExponentPushToken[${name}-${run}]`;

interface DeviceRow {
  id: string;
  provider: string;
  platform: string;
  topics_pending: boolean;
  deactivated_at: Date | null;
  deactivation_reason: string | null;
}

describe('Expo push beside FCM (scripted FCM, Expo API faked on 127.0.0.1)', () => {
  const fcm = new ScriptedPushSender();
  const expo = new FakeExpo();
  const tenant = `expo-${run}`;
  let t: TestApp;
  let db: ReturnType<typeof ownerView>;

  const auth = async (user: string, roles = ['MEMBER']) => `Bearer ${await t.token({ sub: user, tid: tenant, roles })}`;
  const device = async (token: string): Promise<DeviceRow | undefined> =>
    (await db.query(`SELECT * FROM devices WHERE token_hash = $1`, [tokenHash(token)]))[0];
  const ticketsOf = async (deviceId: string): Promise<{ id: string }[]> =>
    db.query(`SELECT id FROM expo_push_tickets WHERE device_id = $1`, [deviceId]);
  const register = async (user: string, body: Record<string, unknown>) => {
    const res = await request(t.url)
      .post(`${API}/devices/register`)
      .set('Authorization', await auth(user))
      .send(body);
    expect(res.status).toBe(200);
    return res.body as { id: string; provider: string; platform: string; active: boolean };
  };
  const notify = async (body: Record<string, unknown>) => {
    const res = await request(t.url)
      .post(`${API}/admin/notify`)
      .set('Authorization', await auth('backend', ['SERVICE']))
      .send({ category: 'message', title: 'Hello', body: 'World', ...body });
    expect(res.status).toBe(202);
    return res.body as { notificationId: string };
  };

  beforeAll(async () => {
    await expo.start();
    // Receipts are read 300 ms after a send instead of Expo's 15 minutes.
    t = await startPushTestApp(fcm, { EXPO_PUSH_URL: expo.url, EXPO_RECEIPT_DELAY_MS: '300' });
    db = ownerView(t.app.get(DataSource));
  });
  afterAll(async () => {
    await t.close();
    await expo.stop();
  });

  describe('registration', () => {
    it('stores an Expo token with provider expo through POST /devices/register, without topic subscriptions', async () => {
      const token = expoToken('reg');
      const body = await register('u-reg', { token, appVersion: '2.0.0' });
      expect(body).toMatchObject({ provider: 'expo', platform: 'unknown', active: true });
      const withPlatform = await register('u-reg', { token: `ExpoPushToken[new-${run}]`, platform: 'android' });
      expect(withPlatform).toMatchObject({ provider: 'expo', platform: 'android' });
      const fcmDevice = await register('u-reg', { token: `fcm-reg-${run}`, platform: 'ios' });
      expect(fcmDevice.provider).toBe('fcm');

      expect(await device(token)).toMatchObject({ provider: 'expo', topics_pending: false });
      // The FCM device gets its topics; no topic call ever carries an Expo token.
      await eventually(() => fcm.topicCalls.some((c) => c.tokens.includes(`fcm-reg-${run}`)), {
        timeoutMs: 10_000,
        what: 'FCM topic subscription',
      });
      expect(fcm.topicCalls.flatMap((c) => c.tokens).filter((tok) => tok.startsWith('Expo'))).toEqual([]);
    });

    it('accepts seed 003 calls: the token in the path, or in the body as push_token', async () => {
      const user = await auth('u-alias');
      const inPath = expoToken('path');
      const res1 = await request(t.url)
        .post(`/api/v1/users/push-token/${encodeURIComponent(inPath)}`)
        .set('Authorization', user);
      expect(res1.status).toBe(200);
      expect(res1.body).toMatchObject({ provider: 'expo', token: inPath, platform: 'unknown' });

      const inBody = `ExpoPushToken[body-${run}]`;
      // Seed 003 writes the path with a trailing slash.
      const res2 = await request(t.url)
        .post('/api/v1/users/push-token/')
        .set('Authorization', user)
        .send({ push_token: inBody, platform: 'ios' });
      expect(res2.status).toBe(200);
      expect(res2.body).toMatchObject({ provider: 'expo', token: inBody, platform: 'ios' });

      const listed = await request(t.url).get(`${API}/devices`).set('Authorization', user);
      expect(listed.body.devices.map((d: { token: string }) => d.token).sort()).toEqual([inBody, inPath].sort());
      // The alias lives only outside the API prefix.
      const prefixed = await request(t.url).post(`${API}/api/v1/users/push-token`).set('Authorization', user).send({ push_token: inBody });
      expect(prefixed.status).toBe(404);
    });

    it('refuses malformed tokens for their provider with the usual error shape, and unauthenticated calls', async () => {
      const user = await auth('u-bad');
      const bad = await request(t.url).post(`${API}/devices/register`).set('Authorization', user).send({ token: 'ExponentPushToken[]' });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ statusCode: 400, code: 'validation_failed', requestId: expect.any(String) });
      expect(bad.body.details).toEqual([{ field: 'token', messages: [expect.stringMatching(/Expo push token/)] }]);

      // An FCM token still needs its platform.
      const noPlatform = await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', user)
        .send({ token: `fcm-${run}` });
      expect(noPlatform.status).toBe(400);
      expect(noPlatform.body.details.map((d: { field: string }) => d.field)).toEqual(['platform']);

      const aliasBad = await request(t.url)
        .post('/api/v1/users/push-token')
        .set('Authorization', user)
        .send({ push_token: 'ExpoPushToken[a b]' });
      expect(aliasBad.status).toBe(400);
      expect(aliasBad.body).toMatchObject({ code: 'validation_failed', details: [{ field: 'push_token' }] });
      const aliasPath = await request(t.url)
        .post(`/api/v1/users/push-token/${encodeURIComponent('ExponentPushToken[x')}`)
        .set('Authorization', user);
      expect(aliasPath.status).toBe(400);
      expect(aliasPath.body.details[0].field).toBe('push_token');
      const unknownField = await request(t.url)
        .post('/api/v1/users/push-token')
        .set('Authorization', user)
        .send({ push_token: expoToken('x'), foo: 1 });
      expect(unknownField.status).toBe(400);

      const anonymous = await request(t.url)
        .post('/api/v1/users/push-token')
        .send({ push_token: expoToken('anon') });
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.code).toBe('token_missing');
      expect(await device(expoToken('anon'))).toBeUndefined();
    });

    it('shares the 5-per-minute registration limit between the normal route and the alias', async () => {
      const user = await auth('u-limit');
      for (let i = 0; i < 3; i++)
        await request(t.url)
          .post(`${API}/devices/register`)
          .set('Authorization', user)
          .send({ token: expoToken(`l${i}`) })
          .expect(200);
      for (let i = 3; i < 5; i++)
        await request(t.url)
          .post('/api/v1/users/push-token')
          .set('Authorization', user)
          .send({ push_token: expoToken(`l${i}`) })
          .expect(200);
      const sixth = await request(t.url)
        .post('/api/v1/users/push-token')
        .set('Authorization', user)
        .send({ push_token: expoToken('l5') });
      expect(sixth.status).toBe(429);
      expect(sixth.body.code).toBe('rate_limited');
    });
  });

  describe('delivery', () => {
    it("one notify reaches the user's FCM and Expo devices; the Expo ticket is stored, its receipt read, then deleted", async () => {
      const fcmToken = `fcm-both-${run}`;
      const token = expoToken('both');
      await register('u-both', { token: fcmToken, platform: 'android' });
      const expoDevice = await register('u-both', { token });
      const { notificationId } = await notify({ userIds: ['u-both'], data: { screen: 'chat' }, priority: 'high', collapseKey: 'chat-1' });

      await eventually(() => fcm.sentTo(fcmToken).length === 1 && expo.messagesTo(token).length === 1, {
        timeoutMs: 10_000,
        what: 'both pushes',
      });
      expect(expo.messagesTo(token)[0]).toMatchObject({
        title: 'Hello',
        body: 'World',
        priority: 'high',
        sound: 'default',
        collapseId: 'chat-1',
        data: { screen: 'chat', notificationId, category: 'message' },
      });
      const [receiptId] = expo.ticketsFor.get(token)!;
      // Stored until the receipts job (300 ms later) reads it, then gone.
      await eventually(() => expo.receiptRequests.some((r) => r.ids.includes(receiptId)), { timeoutMs: 10_000, what: 'receipt request' });
      await eventually(async () => (await ticketsOf(expoDevice.id)).length === 0, { timeoutMs: 10_000, what: 'ticket deleted' });
      expect((await device(token))?.deactivated_at).toBeNull();
    });

    it('a message push to Expo: the sender’s name, the text, the unread count as badge, the default sound; the caller’s badge and sound', async () => {
      const token = expoToken('badge');
      await register('u-badge', { token, platform: 'ios' });
      // The sender's token carries a name; Tether remembers it.
      const senderToken = await new SignJWT({ tid: tenant, roles: ['MEMBER'], name: 'Lin Expo' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('u-writer')
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(t.config.jwt.secret!));
      const writer = messagingClient(t.url, senderToken);
      const conversation = await writer.post('/conversations', { type: 'direct', participantIds: ['u-badge'] });
      await eventually(async () => (await db.query(`SELECT 1 FROM user_profiles WHERE user_id = 'u-writer'`)).length, {
        what: 'the remembered name',
      });
      await notify({ userIds: ['u-badge'], title: 'Welcome', body: 'Hi', category: 'announcement' });
      await eventually(() => expo.messagesTo(token).length === 1, { timeoutMs: 10_000, what: 'the announcement' });
      expect(expo.messagesTo(token)[0]).toMatchObject({ title: 'Welcome', badge: 1, sound: 'default' });

      expect((await writer.post(`/conversations/${conversation.body.id}/messages`, { content: 'See you at 8' })).status).toBe(201);
      await eventually(() => expo.messagesTo(token).length === 2, { timeoutMs: 10_000, what: 'the message push' });
      expect(expo.messagesTo(token)[1]).toMatchObject({
        title: 'Lin Expo',
        body: 'See you at 8',
        priority: 'high',
        sound: 'default',
        badge: 2,
        data: { type: 'message', conversationId: conversation.body.id, senderId: 'u-writer', category: 'message' },
      });

      await notify({ userIds: ['u-badge'], title: 'Reset', category: 'system', badge: 0, sound: 'bell.wav' });
      await eventually(() => expo.messagesTo(token).length === 3, { timeoutMs: 10_000, what: 'the reset' });
      expect(expo.messagesTo(token)[2]).toMatchObject({ title: 'Reset', badge: 0, sound: 'bell.wav' });
    });

    it('deactivates a device whose ticket says DeviceNotRegistered, and stores no ticket for it', async () => {
      const token = expoToken('gone-ticket');
      const { id } = await register('u-gone1', { token });
      expo.errorTicket(token, 'DeviceNotRegistered');
      await notify({ userIds: ['u-gone1'] });
      await eventually(async () => (await device(token))?.deactivated_at, { timeoutMs: 10_000, what: 'deactivation' });
      expect(await device(token)).toMatchObject({ deactivation_reason: 'expo/DeviceNotRegistered' });
      expect(await ticketsOf(id)).toEqual([]);
      // A deactivated device gets nothing more.
      await notify({ userIds: ['u-gone1'] });
      await sleep(500);
      expect(expo.messagesTo(token)).toHaveLength(1);
    });

    it('deactivates a device whose receipt says DeviceNotRegistered, after the receipt delay', async () => {
      const token = expoToken('gone-receipt');
      const { id } = await register('u-gone2', { token });
      expo.errorReceipt(token, 'DeviceNotRegistered');
      await notify({ userIds: ['u-gone2'] });
      await eventually(() => expo.ticketsFor.get(token)?.length === 1, { timeoutMs: 10_000, what: 'ok ticket' });
      // The ticket was ok: the device stays active until the receipt is read.
      expect((await device(token))?.deactivated_at).toBeNull();
      const [receiptId] = expo.ticketsFor.get(token)!;
      await eventually(async () => (await device(token))?.deactivated_at, { timeoutMs: 10_000, what: 'deactivation by receipt' });
      expect(await device(token)).toMatchObject({ deactivation_reason: 'expo/DeviceNotRegistered' });
      expect(expo.receiptRequests.some((r) => r.ids.includes(receiptId))).toBe(true);
      expect(await ticketsOf(id)).toEqual([]);
    });

    it('retries a 503 from Expo through the queue, then succeeds', async () => {
      const token = expoToken('flaky');
      const { id } = await register('u-flaky', { token });
      expo.failRequests(token, 503);
      await notify({ userIds: ['u-flaky'] });
      await eventually(() => expo.ticketsFor.get(token)?.length === 1, { timeoutMs: 10_000, what: 'delivered after a retry' });
      expect(expo.requestsWith(token)).toBe(2);
      expect((await device(token))?.deactivated_at).toBeNull();
      await eventually(async () => (await ticketsOf(id)).length === 0, { timeoutMs: 10_000, what: 'receipt read' });
    });

    it('retries 429s (the SDK twice, then the queue), then succeeds', async () => {
      const token = expoToken('busy');
      await register('u-busy', { token });
      expo.failRequests(token, 429, 429, 429, 429);
      const { notificationId } = await notify({ userIds: ['u-busy'] });
      await eventually(() => expo.ticketsFor.get(token)?.length === 1, { timeoutMs: 15_000, what: 'delivered after 429s' });
      // Three tries inside one job (the SDK's own retries), then the job's retry: two more.
      expect(expo.requestsWith(token)).toBe(5);
      const delivery = t.app.get<Queue>(getQueueToken(DELIVERY_QUEUE), { strict: false });
      const job = await delivery.getJob(`d-${notificationId}-0`);
      expect(job?.attemptsMade).toBeGreaterThanOrEqual(1);
    });

    it('sends 250 Expo devices in requests of at most 100 messages', async () => {
      const user = 'u-many';
      const tokens = Array.from({ length: 250 }, (_, i) => expoToken(`many-${i}`));
      // Straight into the table: registration is limited to 5 per minute per user.
      await db.query(
        `INSERT INTO devices (id, tenant_id, user_id, provider, platform, token, token_hash, roles, topics, topics_pending, last_seen_at)
         SELECT d.id, $4, $5, 'expo', 'unknown', d.token, d.hash, '{MEMBER}', '{}', false, now()
           FROM unnest($1::uuid[], $2::varchar[], $3::varchar[]) AS d(id, token, hash)`,
        [tokens.map(() => randomUUID()), tokens, tokens.map(tokenHash), tenant, user],
      );
      const before = expo.sendRequests.length;
      await notify({ userIds: [user] });
      await eventually(() => tokens.every((tok) => expo.messagesTo(tok).length === 1), { timeoutMs: 10_000, what: '250 pushes' });
      const sizes = expo.sendRequests.slice(before).map((r) => r.messages.length);
      expect(sizes.sort((a, b) => b - a)).toEqual([100, 100, 50]);

      // Every ticket's receipt is read (at most 1000 ids per request), then the tickets are deleted.
      const receiptIds = tokens.flatMap((tok) => expo.ticketsFor.get(tok) ?? []);
      expect(new Set(receiptIds).size).toBe(250);
      await eventually(
        () => {
          const asked = new Set(expo.receiptRequests.flatMap((r) => r.ids));
          return receiptIds.every((id) => asked.has(id));
        },
        { timeoutMs: 10_000, what: 'receipts of 250 tickets' },
      );
      expect(Math.max(...expo.receiptRequests.map((r) => r.ids.length))).toBeLessThanOrEqual(1000);
      const left = async () =>
        Number((await db.query(`SELECT count(*) AS n FROM expo_push_tickets WHERE id = ANY($1::varchar[])`, [receiptIds]))[0].n);
      await eventually(async () => (await left()) === 0, { timeoutMs: 10_000, what: 'tickets deleted' });
    });

    it("a tenant send via the FCM topic also reaches the tenant's Expo devices, one by one", async () => {
      const other = `expo-topic-${run}`;
      const token = expoToken('topic');
      await request(t.url)
        .post(`${API}/devices/register`)
        .set('Authorization', `Bearer ${await t.token({ sub: 'u-topic', tid: other, roles: ['MEMBER'] })}`)
        .send({ token })
        .expect(200);
      const res = await request(t.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', `Bearer ${await t.token({ sub: 'backend', tid: other, roles: ['SERVICE'] })}`)
        .send({ tenant: true, viaTopic: true, category: 'announcement', title: 'All hands' });
      expect(res.status).toBe(202);
      await eventually(() => expo.messagesTo(token).length === 1, { timeoutMs: 10_000, what: 'Expo device of the tenant' });
      expect(fcm.topicSends.filter((s) => s.topic === tenantTopic(other))).toHaveLength(1);
      expect(expo.messagesTo(token)[0]).toMatchObject({ title: 'All hands' });
    });
  });
});
