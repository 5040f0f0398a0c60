import { SignJWT } from 'jose';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { eventually, sleep } from '../tools/scratch';
import { API, messagingClient, MessagingClient } from './support/messaging';
import { ScriptedPushSender } from './support/scripted-push-sender';
import { ownerView, startPushTestApp, TestApp } from './support/test-app';

const run = Date.now().toString(36);

/** Pushes people recognise: the sender's name, the preview switch, the badge and sound, checked at the sender. */
describe('message pushes: sender names, badge, sound, preview', () => {
  const fcm = new ScriptedPushSender();
  const tenant = `names-${run}`;
  let t: TestApp;
  // Rows read as a system task (row-level security hides every tenant's rows from an unscoped query).
  let db: ReturnType<typeof ownerView>;

  /** An access token, with a `name` claim when given (as identity providers put it). */
  const tokenOf = (app: TestApp, sub: string, claims: Record<string, unknown> = {}) =>
    new SignJWT({ tid: tenant, roles: ['MEMBER'], ...claims })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(app.config.jwt.secret!));
  const as = async (user: string, claims: Record<string, unknown> = {}, app = t): Promise<MessagingClient> =>
    messagingClient(app.url, await tokenOf(app, user, claims));
  const backend = async (app = t) => messagingClient(app.url, await tokenOf(app, 'host-backend', { roles: ['SERVICE'] }));
  const register = async (user: string, token: string, app = t) =>
    expect((await (await as(user, {}, app)).post('/devices/register', { token, platform: 'ios' })).status).toBe(200);
  const direct = async (from: MessagingClient, other: string) => {
    const res = await from.post('/conversations', { type: 'direct', participantIds: [other] });
    expect([200, 201]).toContain(res.status);
    return res.body.id as string;
  };
  const send = async (from: MessagingClient, conversationId: string, content: string) => {
    const res = await from.post(`/conversations/${conversationId}/messages`, { content });
    expect(res.status).toBe(201);
    return res.body as { id: string; seq: number };
  };
  /** The next push to `token` after `count` earlier ones. */
  const pushTo = (token: string, count: number) =>
    eventually(() => fcm.sentTo(token)[count], { timeoutMs: 10_000, what: `push ${count + 1} to ${token}` });
  const profile = async (user: string) => (await (await backend()).get(`/users/${user}/profile`).expect(200)).body;
  /** A client whose token names the user; resolves once Tether has remembered the name (written off the request path). */
  const named = async (user: string, name: string, app = t, claims: Record<string, unknown> = { name }) => {
    const client = await as(user, claims, app);
    await client.get('/notifications').expect(200);
    await eventually(
      async () => (await db.query(`SELECT 1 FROM user_profiles WHERE user_id = $1 AND token_name = $2`, [user, name.trim()])).length,
      {
        what: `the name of ${user}`,
      },
    );
    return client;
  };

  beforeAll(async () => {
    t = await startPushTestApp(fcm);
    db = ownerView(t.app.get(DataSource));
  });
  afterAll(() => t.close());

  it('titles a message push with the sender’s name; its badge is the recipient’s unread count, with the default sound', async () => {
    const token = `bob-${run}`;
    await register('n-bob', token);
    // One unread announcement in Bob's inbox (its push carries badge 1: that entry).
    const host = await backend();
    expect((await host.post('/admin/notify', { userIds: ['n-bob'], title: 'Doors open', category: 'announcement' })).status).toBe(202);
    const first = await pushTo(token, 0);
    expect(first).toMatchObject({ badge: 1, payload: { title: 'Doors open' } });
    expect(first.payload.sound).toBeUndefined(); // the default: each sender puts `default` on alert pushes

    const ada = await named('n-ada', 'Ada Lovelace');
    const id = await direct(ada, 'n-bob');
    const m1 = await send(ada, id, 'are you coming tonight?');
    const push = await pushTo(token, 1);
    expect(push.payload).toMatchObject({
      title: 'Ada Lovelace',
      body: 'are you coming tonight?',
      priority: 'high',
      data: { type: 'message', conversationId: id, messageId: m1.id, seq: '1', senderId: 'n-ada' },
    });
    // The announcement plus one unread message; the message's own inbox entry is not counted twice.
    expect(push.badge).toBe(2);
    await send(ada, id, 'second');
    expect((await pushTo(token, 2)).badge).toBe(3);
    // Bob reads the conversation: his next push counts only what is still unread.
    const bob = await as('n-bob');
    expect((await bob.post(`/conversations/${id}/messages/status`, { status: 'read', upToSeq: 2 })).status).toBeLessThan(300);
    // The read covers what was pushed: first a silent dismissal (README "Delivery"), no badge.
    expect(await pushTo(token, 3)).toMatchObject({ payload: { data: { type: 'tether.dismiss', conversationId: id, upToSeq: '2' } } });
    expect((await pushTo(token, 3)).payload.title).toBeUndefined();
    await send(ada, id, 'third');
    expect((await pushTo(token, 4)).badge).toBe(2);
  });

  it('names the sender: host profile, else token name, else member name, else user id', async () => {
    const token = `cat-${run}`;
    await register('n-cat', token);
    const host = await backend();
    const dan = await as('n-dan');
    const id = await direct(dan, 'n-cat');
    let pushes = 0;
    const titleOfNextPush = async (from: MessagingClient) => {
      await send(from, id, 'hi');
      return (await pushTo(token, pushes++)).payload.title;
    };

    // Nothing known: the user id.
    expect(await profile('n-dan')).toEqual({ userId: 'n-dan', displayName: 'n-dan', source: 'userId' });
    expect(await titleOfNextPush(dan)).toBe('n-dan');
    // A community member's display name.
    expect((await host.put('/members/n-dan', { displayName: 'Dan (member)' })).status).toBe(200);
    expect(await titleOfNextPush(dan)).toBe('Dan (member)');
    // A token carrying a name is remembered and wins over the member's.
    const withName = await named('n-dan', '  Dan   Token ');
    expect(await titleOfNextPush(withName)).toBe('Dan   Token');
    expect(await profile('n-dan')).toMatchObject({ displayName: 'Dan   Token', source: 'token' });
    // The host's own choice wins over everything; null gives the token's name back.
    expect((await host.put('/users/n-dan/profile', { displayName: 'Daniel' })).body).toEqual({
      userId: 'n-dan',
      displayName: 'Daniel',
      source: 'host',
    });
    expect(await titleOfNextPush(dan)).toBe('Daniel');
    expect((await host.put('/users/n-dan/profile', { displayName: null })).body).toMatchObject({ displayName: 'Dan   Token' });
    // Names stay in their tenant: another tenant's host knows nothing of this user.
    const elsewhere = messagingClient(t.url, await tokenOf(t, 'host-backend', { roles: ['SERVICE'], tid: `other-${run}` }));
    expect((await elsewhere.get('/users/n-dan/profile').expect(200)).body).toEqual({
      userId: 'n-dan',
      displayName: 'n-dan',
      source: 'userId',
    });
  });

  it('remembers a token name with one write per change, not per request or per token', async () => {
    const updatedAt = async () =>
      (await db.query(`SELECT token_name, updated_at FROM user_profiles WHERE tenant_id = $1 AND user_id = 'n-eve'`, [tenant]))[0];
    await (await as('n-eve', { name: 'Eve' })).get('/notifications').expect(200);
    const first = await eventually(updatedAt, { what: 'the remembered name' });
    expect(first.token_name).toBe('Eve');
    await sleep(20);
    // Other tokens, same name: nothing written.
    for (let i = 0; i < 3; i++) await (await as('n-eve', { name: 'Eve', n: i })).get('/notifications').expect(200);
    await sleep(50);
    expect(await updatedAt()).toEqual(first);
    // A new name is written once.
    await (await as('n-eve', { name: 'Eve B.' })).get('/notifications').expect(200);
    await eventually(async () => (await updatedAt()).token_name === 'Eve B.', { what: 'the new name' });
  });

  it('validates profile writes: server API only, a non-blank name of at most 100 characters or null', async () => {
    const host = await backend();
    for (const body of [{}, { displayName: '' }, { displayName: '   ' }, { displayName: 'x'.repeat(101) }, { displayName: 7 }]) {
      const res = await host.put('/users/n-fay/profile', body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'validation_failed' });
    }
    expect((await host.put('/users/bad%20id/profile', { displayName: 'x' })).status).toBe(400);
    expect((await (await as('n-fay')).put('/users/n-fay/profile', { displayName: 'Me' })).body).toMatchObject({
      statusCode: 403,
      code: 'forbidden',
    });
  });

  it('passes badge and sound given to POST /admin/notify through, and validates them', async () => {
    const token = `gus-${run}`;
    await register('n-gus', token);
    const notify = async (body: Record<string, unknown>) =>
      request(t.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', `Bearer ${await tokenOf(t, 'host-backend', { roles: ['SERVICE'] })}`)
        .send({ userIds: ['n-gus'], title: 'Hi', category: 'system', ...body });
    expect((await notify({ badge: 5, sound: 'chime.caf' })).status).toBe(202);
    const push = await pushTo(token, 0);
    expect(push.payload).toMatchObject({ badge: 5, sound: 'chime.caf' });
    expect(push.badge).toBeUndefined(); // the caller's badge, not the unread count
    expect((await notify({ badge: 0, sound: 'none' })).status).toBe(202);
    expect((await pushTo(token, 1)).payload).toMatchObject({ badge: 0, sound: 'none' });

    for (const [body, field] of [
      [{ badge: -1 }, 'badge'],
      [{ badge: 100_000 }, 'badge'],
      [{ badge: 1.5 }, 'badge'],
      [{ badge: '3' }, 'badge'],
      [{ sound: 'a sound!' }, 'sound'],
      [{ sound: '' }, 'sound'],
      [{ sound: 3 }, 'sound'],
    ] as const) {
      const res = await notify(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'validation_failed', details: [expect.objectContaining({ field })] });
    }
  });

  it('MESSAGE_PUSH_PREVIEW=hidden: a neutral "New message", no text anywhere in the push or its inbox entry (and JWT_NAME_CLAIM)', async () => {
    const sender = new ScriptedPushSender();
    // Supabase keeps the name in user_metadata.
    const hidden = await startPushTestApp(sender, { MESSAGE_PUSH_PREVIEW: 'hidden', JWT_NAME_CLAIM: 'user_metadata.full_name' });
    try {
      const token = `hal-${run}`;
      await register('n-hal', token, hidden);
      const ivy = await named('n-ivy', 'Ivy', hidden, { name: 'not this one', user_metadata: { full_name: 'Ivy' } });
      const id = await direct(ivy, 'n-hal');
      const secret = 'the door code is 4711';
      await send(ivy, id, secret);
      // Both apps share the queues: either one's worker may deliver it.
      const push = await eventually(() => sender.sentTo(token)[0] ?? fcm.sentTo(token)[0], { timeoutMs: 10_000, what: 'the push' });
      expect(push.payload).toMatchObject({ title: 'Ivy', body: 'New message' });
      expect(JSON.stringify(push.payload)).not.toContain('4711');
      expect(push.badge).toBeGreaterThanOrEqual(1);
      const inbox = (await (await as('n-hal', {}, hidden)).get('/notifications').expect(200)).body.items;
      expect(inbox[0]).toMatchObject({ title: 'Ivy', body: 'New message' });
      expect(JSON.stringify(inbox)).not.toContain('4711');
    } finally {
      await hidden.close();
    }
  });

  it('MESSAGE_PUSH_PREVIEW=none: "New message" alone, without the sender’s name or id', async () => {
    const sender = new ScriptedPushSender();
    const none = await startPushTestApp(sender, { MESSAGE_PUSH_PREVIEW: 'none' });
    try {
      const token = `jon-${run}`;
      await register('n-jon', token, none);
      const kim = await named('n-kim', 'Kim Private', none);
      const id = await direct(kim, 'n-jon');
      await send(kim, id, 'hello there');
      const push = await eventually(() => sender.sentTo(token)[0] ?? fcm.sentTo(token)[0], { timeoutMs: 10_000, what: 'the push' });
      expect(push.payload).toMatchObject({ title: 'New message', data: { type: 'message', conversationId: id } });
      expect(push.payload.body).toBeUndefined();
      expect(JSON.stringify(push.payload)).not.toMatch(/Kim|n-kim|hello/);
    } finally {
      await none.close();
    }
  });
});
