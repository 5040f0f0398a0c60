import request from 'supertest';
import { deleteRedisKeys, eventually, sleep } from '../tools/scratch';
import { API, messagingClient } from './support/messaging';
import { connect, next, record, request as ask, ClientSocket } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';
import { RedisService } from '../src/core/redis/redis.service';

let seq = 0;
const freshTenant = () => `pr${Date.now().toString(36)}${seq++}`;

describe('presence on request', () => {
  let a: TestApp;
  let b: TestApp;
  const sockets: ClientSocket[] = [];
  const open = async (app: TestApp, sub: string, tid: string) => {
    const s = await connect(app.url, await app.token({ sub, tid }));
    sockets.push(s);
    await next(s, 'session');
    return s;
  };
  const get = async (tid: string, query: string, sub = 'asker') =>
    request(a.url)
      .get(`${API}/presence${query}`)
      .set('Authorization', `Bearer ${await a.token({ sub, tid })}`);

  beforeAll(async () => {
    const env = { REALTIME_PRESENCE_OFFLINE_DELAY_MS: '100', REALTIME_PRESENCE_CHANNELS: 'room:,service:counts', LOG_LEVEL: 'silent' };
    // Two instances on one Redis: two pods.
    a = await startTestApp(env);
    b = await startTestApp(env);
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  describe('GET /presence', () => {
    it('answers online/offline with lastSeen for a batch of users of the caller’s tenant only', async () => {
      const tid = freshTenant();
      const s = await open(b, 'alice', tid);
      await open(a, 'bob', tid);
      await open(a, 'carol', freshTenant()); // another tenant: never online here
      s.close();
      await eventually(async () => (await get(tid, '?userIds=alice')).body.presence[0].status === 'offline');
      const res = await get(tid, '?userIds=alice,bob,carol,bob,nobody');
      expect(res.status).toBe(200);
      expect(res.body.presence).toEqual([
        { userId: 'alice', status: 'offline', lastSeen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
        { userId: 'bob', status: 'online', lastSeen: null },
        { userId: 'carol', status: 'offline', lastSeen: null },
        { userId: 'nobody', status: 'offline', lastSeen: null },
      ]);
    });

    it('validates the list and caps its size (400 validation_failed)', async () => {
      const tid = freshTenant();
      for (const q of ['', '?userIds=', '?userIds=,,', '?userIds=bad%20id', `?userIds=${'x'.repeat(129)}`]) {
        const res = await get(tid, q);
        expect(res.status).toBe(400);
        expect(res.body.code).toBe('validation_failed');
      }
      const many = Array.from({ length: 201 }, (_, i) => `u${i}`).join(',');
      const res = await get(tid, `?userIds=${many}`);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body.details)).toMatch(/at most 200/);
      expect((await get(tid, `?userIds=${many.split(',').slice(0, 200).join(',')}`)).status).toBe(200);
    });

    it('needs a token', async () => {
      expect((await request(a.url).get(`${API}/presence?userIds=a`)).status).toBe(401);
    });
  });

  describe('presence channels', () => {
    it('a conversation: the subscribe ack lists who is in it, then member:joined / member:left across pods', async () => {
      const tid = freshTenant();
      const alice = messagingClient(a.url, await a.token({ sub: 'alice', tid }));
      const created = await alice.post('/conversations', { type: 'group', participantIds: ['bob', 'carol'], title: 'g' });
      expect(created.status).toBe(201);
      const channel = `conversation:${created.body.id}`;

      const sa = await open(a, 'alice', tid);
      const first = await ask(sa, 'subscribe', { channels: [channel, 'announcements'] });
      expect(first.presence).toEqual({ [channel]: { count: 1, members: ['alice'] } });
      const seenByAlice = record(sa);

      const sb = await open(b, 'bob', tid); // the other pod
      const second = await ask(sb, 'subscribe', { channels: [channel] });
      expect(second.presence[channel].count).toBe(2);
      expect(second.presence[channel].members.sort()).toEqual(['alice', 'bob']);
      await eventually(() => seenByAlice.some(([e]) => e === 'member:joined'));
      expect(seenByAlice.filter(([e]) => e.startsWith('member:'))).toEqual([['member:joined', { channel, userId: 'bob' }, { channel }]]);

      // A second socket of bob's changes nothing; his last one leaving does.
      const sb2 = await open(a, 'bob', tid);
      expect((await ask(sb2, 'subscribe', { channels: [channel] })).presence[channel].count).toBe(2);
      await ask(sb2, 'unsubscribe', { channels: [channel] });
      sb.close(); // disconnect, on the other pod
      await eventually(() => seenByAlice.some(([e]) => e === 'member:left'));
      await sleep(100);
      expect(seenByAlice.filter(([e]) => e.startsWith('member:')).map(([e, p]) => [e, p.userId])).toEqual([
        ['member:joined', 'bob'],
        ['member:left', 'bob'],
      ]);
      // Not told about herself; and a non-presence channel carries no list.
      expect(seenByAlice.some(([, p]) => p?.userId === 'alice')).toBe(false);
      const again = await ask(sa, 'subscribe', { channels: [channel] });
      expect(again.presence[channel]).toEqual({ count: 1, members: ['alice'] });
    });

    it('channels configured with REALTIME_PRESENCE_CHANNELS (here `service:counts`); others have none', async () => {
      const tid = freshTenant();
      const s1 = await open(a, 'u1', tid);
      const s2 = await open(b, 'u2', tid);
      const ack = await ask(s1, 'subscribe', { channels: ['service:counts', 'announcements', 'presence:u2'] });
      expect(ack.presence).toEqual({ 'service:counts': { count: 1, members: ['u1'] } });
      const seen = record(s1);
      expect((await ask(s2, 'subscribe', { channels: ['service:counts'] })).presence['service:counts'].count).toBe(2);
      await eventually(() => seen.some(([e, p]) => e === 'member:joined' && p.userId === 'u2'));
      // A configured prefix no policy owns opens nothing.
      const refused = await ask(s1, 'subscribe', { channels: ['room:1'] });
      expect(refused.subscribed).toEqual([]);
      expect(refused.presence).toBeUndefined();
    });

    it('a pod that dies is reaped: its members leave the channel', async () => {
      const tid = freshTenant();
      const alice = messagingClient(a.url, await a.token({ sub: 'alice', tid }));
      const id = (await alice.post('/conversations', { type: 'direct', participantIds: ['bob'] })).body.id;
      const channel = `conversation:${id}`;
      const sa = await open(a, 'alice', tid);
      await ask(sa, 'subscribe', { channels: [channel] });
      const sb = await open(b, 'bob', tid);
      await ask(sb, 'subscribe', { channels: [channel] });
      const seen = record(sa);
      // What a surviving pod does for a pod whose heartbeat stopped (see PresenceService.beat).
      const { PresenceService } = await import('../src/modules/realtime/presence.service');
      const presenceB = b.app.get(PresenceService);
      await a.app.get(PresenceService).reap(presenceB.podId);
      await eventually(() => seen.some(([e, p]) => e === 'member:left' && p.userId === 'bob'));
      expect((await ask(sa, 'subscribe', { channels: [channel] })).presence[channel]).toEqual({ count: 1, members: ['alice'] });
      sb.close();
    });
  });

  describe('presence:follow', () => {
    it('follows 500 users within the 100-channel limit: current states at once, then their updates; measured', async () => {
      const tid = freshTenant();
      const follower = await open(a, 'follower', tid);
      const users = Array.from({ length: 500 }, (_, i) => `contact-${i}`);
      const online = await open(b, 'contact-7', tid);

      const started = process.hrtime.bigint();
      const ack = await ask(follower, 'presence:follow', { userIds: users });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const { PresenceFollows } = await import('../src/modules/realtime/presence-follows');
      const indexed = a.app.get(PresenceFollows).indexedUsers;
      console.log(
        `presence:follow of 500 users: ack in ${ms.toFixed(1)} ms, ${JSON.stringify(ack).length} bytes, ` +
          `${indexed} users indexed on the pod (one Redis round trip, no channel and no Redis subscription per user)`,
      );
      expect(ack.following).toBe(500);
      expect(ack.presence).toHaveLength(500);
      expect(ack.presence[7]).toEqual({ userId: 'contact-7', status: 'online', lastSeen: null });
      expect(ack.presence[8]).toEqual({ userId: 'contact-8', status: 'offline', lastSeen: null });
      expect(ms).toBeLessThan(2000);
      expect(indexed).toBeGreaterThanOrEqual(500);

      // Updates of followed users arrive (from the other pod too), others' do not.
      const seen = record(follower);
      const c42 = await open(b, 'contact-42', tid);
      await open(a, 'stranger', tid);
      await eventually(() => seen.some(([e, p]) => e === 'presence:update' && p.userId === 'contact-42'));
      online.close();
      await eventually(() => seen.some(([e, p]) => e === 'presence:update' && p.userId === 'contact-7' && p.status === 'offline'));
      expect(seen.find(([, p]) => p.userId === 'contact-42')).toEqual([
        'presence:update',
        { userId: 'contact-42', status: 'online', lastSeen: null },
        { channel: 'presence:contact-42' },
      ]);
      expect(seen.some(([, p]) => p.userId === 'stranger')).toBe(false);

      // Unfollow stops them; the channel count was never used.
      expect(await ask(follower, 'presence:unfollow', { userIds: ['contact-42'] })).toEqual({ following: 499 });
      c42.close();
      await sleep(400);
      expect(seen.filter(([, p]) => p.userId === 'contact-42')).toHaveLength(1);
      const sub = await ask(follower, 'subscribe', { channels: ['announcements'] });
      expect(sub.subscribed).toEqual(['announcements']);
    });

    it('is bounded per socket, validated, and forgotten on disconnect', async () => {
      const tid = freshTenant();
      const s = await open(a, 'f', tid);
      const { PresenceFollows } = await import('../src/modules/realtime/presence-follows');
      const follows = a.app.get(PresenceFollows);
      const before = follows.indexedUsers;
      expect(await ask(s, 'presence:follow', { userIds: [] })).toMatchObject({ error: { code: 'invalid_payload' } });
      expect(await ask(s, 'presence:follow', { userIds: ['bad id'] })).toMatchObject({ error: { code: 'invalid_payload' } });
      expect(await ask(s, 'presence:follow', ['x'])).toMatchObject({ error: { code: 'invalid_payload' } });
      const first = Array.from({ length: 1000 }, (_, i) => `a${i}`);
      expect((await ask(s, 'presence:follow', { userIds: first })).following).toBe(1000);
      expect(await ask(s, 'presence:follow', { userIds: ['one-more'] })).toMatchObject({ error: { code: 'too_many_follows' } });
      expect((await ask(s, 'presence:follow', { userIds: ['a1'] })).following).toBe(1000); // already followed: no growth
      expect(follows.indexedUsers).toBe(before + 1000);
      s.close();
      await eventually(() => follows.indexedUsers === before);
    });
  });

  describe('onlyIfOffline', () => {
    const admin = async (tid: string) => `Bearer ${await a.token({ sub: 'backend', tid, roles: ['SERVICE'] })}`;

    it('POST /admin/notify skips the recipients online now and says who', async () => {
      const tid = freshTenant();
      await open(b, 'here', tid);
      const auth = await admin(tid);
      const res = await request(a.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', auth)
        .send({ userIds: ['here', 'away', 'away'], title: 'Hi', category: 'message', onlyIfOffline: true });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ duplicate: false, inboxCount: 1, notified: ['away'], skipped: ['here'] });
      expect(res.body.notificationId).toEqual(expect.any(String));

      const all = await request(a.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', auth)
        .send({ userIds: ['here'], title: 'Hi', category: 'message', onlyIfOffline: true });
      expect(all.status).toBe(202);
      expect(all.body).toEqual({ notificationId: null, duplicate: false, inboxCount: 0, notified: [], skipped: ['here'] });
      // Nothing reached the online user's inbox.
      const inbox = await request(a.url)
        .get(`${API}/notifications`)
        .set('Authorization', `Bearer ${await a.token({ sub: 'here', tid })}`);
      expect(inbox.body.items).toEqual([]);
      const away = await request(a.url)
        .get(`${API}/notifications`)
        .set('Authorization', `Bearer ${await a.token({ sub: 'away', tid })}`);
      expect(away.body.items).toHaveLength(1);

      // Without the flag nothing changes; with other recipient kinds it is refused.
      const plain = await request(a.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', auth)
        .send({ userIds: ['here'], title: 'x', category: 'message' });
      expect(plain.body).toEqual({ notificationId: expect.any(String), duplicate: false, inboxCount: 1 });
      const bad = await request(a.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', auth)
        .send({ roles: ['MEMBER'], title: 'x', category: 'message', onlyIfOffline: true });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('validation_failed');
      const notBool = await request(a.url)
        .post(`${API}/admin/notify`)
        .set('Authorization', auth)
        .send({ userIds: ['x'], title: 'x', category: 'message', onlyIfOffline: 'yes' });
      expect(notBool.status).toBe(400);
    });

    it("the venues app's POST /api/websocket notify action", async () => {
      const tid = freshTenant();
      await open(a, 'venue-fan', tid);
      const auth = await admin(tid);
      const send = (userId: string, onlyIfOffline: unknown) =>
        request(a.url)
          .post('/api/websocket')
          .set('Authorization', auth)
          .send({ action: 'notify', userId, onlyIfOffline, data: { title: 'Busy tonight', message: 'Come early', type: 'promotion' } });
      const skipped = await send('venue-fan', true);
      expect(skipped.status).toBe(202);
      expect(skipped.body).toEqual({ ok: true, action: 'notify', notificationId: null, skipped: true, reason: 'online' });
      const sent = await send('venue-away', true);
      expect(sent.status).toBe(202);
      expect(sent.body).toEqual({ ok: true, action: 'notify', notificationId: expect.any(String), skipped: false });
      expect((await send('venue-away', 'sure')).status).toBe(400);
    });
  });
});

describe("a presence channel's short log", () => {
  let t: TestApp;
  const sockets: ClientSocket[] = [];
  beforeAll(async () => {
    t = await startTestApp({ REALTIME_PRESENCE_OFFLINE_DELAY_MS: '0', REALTIME_PRESENCE_LOG_MAX_AGE_SEC: '1', LOG_LEVEL: 'silent' });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  it("is gone from Redis soon after the user's last change, and a follower from before then is told to re-read", async () => {
    const tid = freshTenant();
    const watcher = await connect(t.url, await t.token({ sub: 'watcher', tid }));
    sockets.push(watcher);
    const first = await ask(watcher, 'subscribe', { channels: ['presence:idle'] });
    const since = first.offsets['presence:idle'];
    const idle = await connect(t.url, await t.token({ sub: 'idle', tid }));
    sockets.push(idle);
    const redis = t.app.get(RedisService);
    const stream = redis.key('rt', 'log', tid, 'presence:idle');
    await eventually(async () => (await redis.client.exists(stream)) === 1, { what: 'the online change logged' });
    // An idle user costs no stream once the presence log's age has passed (5 KB each, otherwise).
    await eventually(async () => (await redis.client.exists(stream)) === 0, { timeoutMs: 5000, what: 'the presence stream expired' });
    const again = await connect(t.url, await t.token({ sub: 'watcher', tid }));
    sockets.push(again);
    const back = await ask(again, 'subscribe', { channels: ['presence:idle'], since: { 'presence:idle': since } });
    expect(back.recovered).toEqual({ 'presence:idle': false });
  });
});

describe('presence logs only while read', () => {
  let t: TestApp;
  const sockets: ClientSocket[] = [];
  const open = async (sub: string, tid: string) => {
    const s = await connect(t.url, await t.token({ sub, tid }));
    sockets.push(s);
    return s;
  };
  beforeAll(async () => {
    t = await startTestApp({ REALTIME_PRESENCE_OFFLINE_DELAY_MS: '0', LOG_LEVEL: 'silent' });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  it('keeps no Redis stream for a user whose presence log nobody reads, and logs every change once someone does', async () => {
    const tid = freshTenant();
    const redis = t.app.get(RedisService);
    const stream = redis.key('rt', 'log', tid, 'presence:loner');
    // A follower hears the change (presence:follow does not read the log) ...
    const follower = await open('follower', tid);
    await ask(follower, 'presence:follow', { userIds: ['loner'] });
    const heard = next(follower, 'presence:update');
    const loner = await open('loner', tid);
    expect((await heard)[0]).toMatchObject({ userId: 'loner', status: 'online' });
    // ... and no stream was written for it (4.7 KB each on Redis 7).
    await sleep(100);
    expect(await redis.client.exists(stream)).toBe(0);

    // A subscriber reads the log: from then on changes are logged, with offsets, and recoverable.
    const watcher = await open('watcher', tid);
    const ack = await ask(watcher, 'subscribe', { channels: ['presence:loner'] });
    expect(ack.subscribed).toEqual(['presence:loner']);
    expect(await redis.client.exists(stream)).toBe(1);
    const offline = next(watcher, 'presence:update');
    loner.close();
    const [payload, meta] = (await offline) as [unknown, { channel: string; offset?: string }];
    expect(payload).toMatchObject({ userId: 'loner', status: 'offline' });
    expect(meta.offset).toEqual(expect.any(String));
    expect(await redis.client.xlen(stream)).toBe(2); // presence:update and user:offline

    const again = await open('watcher', tid);
    const seen = record(again);
    const back = await ask(again, 'subscribe', {
      channels: ['presence:loner'],
      since: { 'presence:loner': ack.offsets['presence:loner'] },
    });
    expect(back.recovered).toEqual({ 'presence:loner': true });
    await eventually(() => seen.some(([event, payload]) => event === 'user:offline' && payload.userId === 'loner'), {
      what: 'user:offline replayed',
    });
  });
});

describe('presence when Redis lost it', () => {
  let t: TestApp;
  const sockets: ClientSocket[] = [];
  beforeAll(async () => {
    // Heartbeats every second (a quarter of the pod timeout, at least 1 s).
    t = await startTestApp({ REALTIME_POD_TIMEOUT_MS: '4000', LOG_LEVEL: 'silent' });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  it("puts the pod's users back at its next heartbeat, also when a socket connected after the loss", async () => {
    const tid = freshTenant();
    const redis = t.app.get(RedisService);
    const usersKey = redis.key('rt', 'presence', 'users');
    const open = async (sub: string) => {
      const s = await connect(t.url, await t.token({ sub, tid }));
      sockets.push(s);
      return s;
    };
    await open('early');
    await eventually(async () => (await redis.client.hexists(usersKey, `${tid}|early`)) === 1, { what: 'early online' });
    // Redis comes back empty (as after a restart without persistence): every presence key is gone ...
    await deleteRedisKeys(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', redis.key('rt', 'p*'));
    // ... and a socket connects before the pod's next heartbeat, creating the pod's users hash anew.
    await open('late');
    await eventually(async () => (await redis.client.hexists(usersKey, `${tid}|late`)) === 1, { what: 'late online' });
    await eventually(async () => (await redis.client.hexists(usersKey, `${tid}|early`)) === 1, {
      timeoutMs: 4000,
      what: 'early online again after a heartbeat',
    });
  });
});
