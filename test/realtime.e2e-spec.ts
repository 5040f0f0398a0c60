import request from 'supertest';
import { io } from 'socket.io-client';
import { eventually, sleep } from '../tools/scratch';
import { connect, next, record, request as ask, ClientSocket } from './support/sockets';
import { broadcast as publish } from './support/broadcast';
import { startTestApp, TestApp } from './support/test-app';

let tenantSeq = 0;
const freshTenant = () => `rt${Date.now().toString(36)}${tenantSeq++}`;

describe('realtime gateway (one instance)', () => {
  let t: TestApp;
  const sockets: ClientSocket[] = [];
  const open = async (claims: { sub?: string; tid?: string; roles?: string[] } = {}, ttl?: number, opts = {}) => {
    const s = await connect(t.url, await t.token(claims, ttl), opts);
    sockets.push(s);
    return s;
  };
  const broadcast = (tid: string, channel: string, event: string, data: object) => publish(t, tid, channel, event, data);

  beforeAll(async () => {
    t = await startTestApp({ REALTIME_TOKEN_GRACE_MS: '300', REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200' });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(() => t.close());

  it("works with seed 000's client as written (websocket first, auth.token, subscribe without ack)", async () => {
    const tid = freshTenant();
    const token = await t.token({ sub: 'member-1', tid });
    const socket = io(`${t.url}/realtime`, { transports: ['websocket', 'polling'], auth: { token } });
    sockets.push(socket);
    const counts: unknown[] = [];
    const announcements: unknown[] = [];
    socket.on('connect', () => socket.emit('subscribe', { channels: ['service:counts', 'announcements'] }));
    socket.on('service:count_update', (data) => counts.push(data));
    socket.on('announcement:new', (a) => announcements.push(a));
    await next(socket, 'session');
    await sleep(100); // the subscribe has no ack in the seed; give it a moment
    await broadcast(tid, 'announcements', 'announcement:new', { id: 'a1', title: 'Hi', content: 'Welcome', priority: 'normal' });
    await broadcast(tid, 'service:counts', 'service:count_update', { serviceId: 's1', totalCheckins: 3, currentAttendance: 2 });
    await eventually(() => counts.length === 1 && announcements.length === 1);
    expect(announcements[0]).toMatchObject({ id: 'a1', title: 'Hi' });
  });

  it('answers the polling handshake of seed 000 curl', async () => {
    const res = await request(t.url).get('/socket.io/?EIO=4&transport=polling').expect(200);
    expect(res.text).toMatch(/^0\{"sid":"/);
    expect(res.text).toMatch(/"pingInterval":25000/);
  });

  it('works over the polling transport too', async () => {
    const s = await open({ tid: freshTenant() }, undefined, { transports: ['polling'] });
    const ack = await ask(s, 'subscribe', { channels: ['announcements'] });
    expect(ack.subscribed).toEqual(['announcements']);
  });

  describe('handshake auth', () => {
    const refused = async (token: string | undefined, opts: Record<string, unknown> = {}) => {
      const err = await connect(t.url, token, opts).then(
        () => {
          throw new Error('connected');
        },
        (e) => e,
      );
      return err as Error & { data: { code: string; message: string } };
    };

    it('refuses a missing, garbage or expired token with the error code in connect_error data', async () => {
      expect((await refused(undefined)).data.code).toBe('token_missing');
      expect((await refused('garbage')).data.code).toBe('token_invalid');
      expect((await refused(await t.token({}, -10))).data).toMatchObject({ code: 'token_expired', message: expect.any(String) });
    });

    it('accepts the token from the query string or the Authorization header', async () => {
      const token = await t.token();
      const viaQuery = await connect(t.url, undefined, { query: { token } });
      viaQuery.close();
      const viaHeader = await connect(t.url, undefined, { extraHeaders: { Authorization: `Bearer ${token}` } });
      viaHeader.close();
    });

    it('tells the client its user, tenant and token expiry in a first session event', async () => {
      const tid = freshTenant();
      const token = await t.token({ sub: 'ann', tid, roles: ['LEADER'] });
      const socket = io(`${t.url}/realtime`, { transports: ['websocket'], auth: { token }, forceNew: true });
      sockets.push(socket);
      const [session] = await next<any>(socket, 'session');
      expect(session).toMatchObject({ userId: 'ann', tenantId: tid, roles: ['LEADER'], pingIntervalMs: 25000 });
      expect(new Date(session.expiresAt).getTime()).toBeGreaterThan(Date.now());
    });
  });

  describe('subscribe', () => {
    it('acks subscribed and rejected channels with reasons and offsets', async () => {
      const s = await open({ sub: 'me', tid: freshTenant() });
      const ack = await ask(s, 'subscribe', {
        channels: ['announcements', 'user:me', 'user:someone-else', 'nonsense:1', 'Bad Name', 'presence:friend', 'service:counts'],
      });
      expect(ack.subscribed).toEqual(['announcements', 'user:me', 'presence:friend', 'service:counts']);
      expect(ack.rejected).toEqual([
        { channel: 'user:someone-else', reason: 'forbidden' },
        { channel: 'nonsense:1', reason: 'unknown_channel' },
        { channel: 'Bad Name', reason: 'invalid_channel' },
      ]);
      expect(Object.keys(ack.offsets).sort()).toEqual(['announcements', 'presence:friend', 'service:counts', 'user:me']);
      const unsub = await ask(s, 'unsubscribe', { channels: ['announcements', 'never-subscribed'] });
      expect(unsub).toEqual({ unsubscribed: ['announcements'] });
    });

    it('answers malformed payloads and unknown events with an error ack, and stays connected', async () => {
      const s = await open({ tid: freshTenant() });
      expect(await ask(s, 'subscribe', { channels: 'announcements' })).toEqual({
        error: { code: 'invalid_payload', message: expect.any(String) },
      });
      expect(await ask(s, 'subscribe', null)).toMatchObject({ error: { code: 'invalid_payload' } });
      expect(await ask(s, 'subscribe', { channels: ['announcements'], since: { announcements: 5 } })).toMatchObject({
        error: { code: 'invalid_payload' },
      });
      expect(await ask(s, 'launch:missiles', {})).toMatchObject({ error: { code: 'unknown_event' } });
      expect(s.connected).toBe(true);
    });

    it('keeps tenants apart: the same channel name in two tenants never mixes', async () => {
      const [a, b] = [freshTenant(), freshTenant()];
      const inA = await open({ sub: 'u', tid: a });
      const inB = await open({ sub: 'u', tid: b });
      await ask(inA, 'subscribe', { channels: ['announcements', 'user:u'] });
      await ask(inB, 'subscribe', { channels: ['announcements', 'user:u'] });
      const seenB = record(inB);
      const gotA = next<any>(inA, 'announcement:new');
      await broadcast(a, 'announcements', 'announcement:new', { id: 'only-a' });
      await broadcast(a, 'user:u', 'notification:new', { id: 'n-a' });
      expect((await gotA)[0]).toMatchObject({ id: 'only-a' });
      await sleep(200);
      expect(seenB.filter(([e]) => e !== 'session')).toEqual([]);
      // The polling endpoint is scoped the same way.
      const tokenB = await t.token({ sub: 'u', tid: b });
      const polled = await request(t.url)
        .get('/api/mobile/v1/realtime/events?channel=announcements')
        .set('Authorization', `Bearer ${tokenB}`)
        .expect(200);
      expect(polled.body.events).toEqual([]);
      await request(t.url).get('/api/mobile/v1/realtime/events?channel=user:u').set('Authorization', `Bearer ${tokenB}`).expect(200);
      const otherUser = await t.token({ sub: 'v', tid: a });
      const denied = await request(t.url)
        .get('/api/mobile/v1/realtime/events?channel=user:u')
        .set('Authorization', `Bearer ${otherUser}`)
        .expect(403);
      expect(denied.body.code).toBe('channel_forbidden');
    });
  });

  describe('missed events', () => {
    it('emits (payload, meta) and replays exactly what a reconnecting client missed, in order, then live', async () => {
      const tid = freshTenant();
      const first = await open({ sub: 'r', tid });
      await ask(first, 'subscribe', { channels: ['announcements'] });
      const got = next<any>(first, 'announcement:new');
      await broadcast(tid, 'announcements', 'announcement:new', { n: 0 });
      const [payload, meta] = await got;
      expect(payload).toEqual({ n: 0 });
      expect(meta).toEqual({ channel: 'announcements', offset: expect.any(String) });
      first.close();

      for (let n = 1; n <= 3; n++) await broadcast(tid, 'announcements', 'announcement:new', { n });
      const again = await open({ sub: 'r', tid });
      const seen = record(again);
      const ack = await ask(again, 'subscribe', { channels: ['announcements'], since: { announcements: meta.offset } });
      expect(ack.recovered).toEqual({ announcements: true });
      await broadcast(tid, 'announcements', 'announcement:new', { n: 4 });
      await eventually(() => seen.filter(([e]) => e === 'announcement:new').length >= 4);
      await sleep(100);
      const events = seen.filter(([e]) => e === 'announcement:new');
      expect(events.map(([, p]) => p.n)).toEqual([1, 2, 3, 4]);
      const offsets = events.map(([, , m]) => m.offset);
      expect(new Set(offsets).size).toBe(4);
      expect(ack.offsets.announcements).toBe(offsets[2]);
      // Subscribing again to a channel it already has replays nothing twice.
      const repeat = await ask(again, 'subscribe', { channels: ['announcements'], since: { announcements: meta.offset } });
      expect(repeat.recovered).toBeUndefined();
      await sleep(100);
      expect(seen.filter(([e]) => e === 'announcement:new')).toHaveLength(4);
    });

    it('never loses or duplicates an event when publishes race the subscribe', async () => {
      const tid = freshTenant();
      const first = await open({ sub: 'race', tid });
      await ask(first, 'subscribe', { channels: ['announcements'] });
      const got = next<any>(first, 'announcement:new');
      await broadcast(tid, 'announcements', 'announcement:new', { n: 0 });
      const [, meta] = await got;
      first.close();

      // A publisher keeps going while the client reconnects and recovers.
      let n = 1;
      let running = true;
      const publisher = (async () => {
        while (running) await broadcast(tid, 'announcements', 'announcement:new', { n: n++ });
      })();
      await sleep(50);
      const again = await open({ sub: 'race', tid });
      const seen = record(again);
      const ack = await ask(again, 'subscribe', { channels: ['announcements'], since: { announcements: meta.offset } });
      expect(ack.recovered.announcements).toBe(true);
      await sleep(150);
      running = false;
      await publisher;
      const last = n - 1;
      await eventually(() => seen.filter(([e]) => e === 'announcement:new').length >= last, { timeoutMs: 5000 }).catch(() => undefined);
      const ns = seen.filter(([e]) => e === 'announcement:new').map(([, p]) => p.n);
      expect(ns).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    });

    it('says recovered: false, and replays nothing, when the log was trimmed past the offset', async () => {
      const small = await startTestApp({ REALTIME_LOG_MAX_LENGTH: '10' });
      try {
        const tid = freshTenant();
        const token = await small.token({ sub: 'x', tid });
        const s = await connect(small.url, token);
        await ask(s, 'subscribe', { channels: ['announcements'] });
        const got = next<any>(s, 'announcement:new');
        const admin = `Bearer ${await small.token({ tid, roles: ['ADMIN'] })}`;
        const send = (i: number) =>
          request(small.url)
            .post('/api/mobile/v1/admin/broadcast')
            .set('Authorization', admin)
            .send({ channel: 'announcements', event: 'announcement:new', data: { i } });
        await send(0);
        const [, meta] = await got;
        s.close();
        for (let i = 1; i <= 250; i++) await send(i);
        const again = await connect(small.url, token);
        const seen = record(again);
        const ack = await ask(again, 'subscribe', { channels: ['announcements'], since: { announcements: meta.offset } });
        expect(ack).toMatchObject({ subscribed: ['announcements'], recovered: { announcements: false } });
        await sleep(100);
        expect(seen.filter(([e]) => e === 'announcement:new')).toEqual([]);
        again.close();
        // The HTTP fallback says the same, and (issue 13: never an empty page while events exist)
        // hands over what the log still holds, oldest first.
        const polled = await request(small.url)
          .get('/api/mobile/v1/realtime/events')
          .query({ channel: 'announcements', since: meta.offset, limit: 1000 })
          .set('Authorization', `Bearer ${token}`)
          .expect(200);
        expect(polled.body).toMatchObject({ recovered: false, hasMore: false });
        const held = polled.body.events.map((e: any) => e.data.i);
        expect(held.length).toBeGreaterThanOrEqual(10);
        expect(held[held.length - 1]).toBe(250);
        expect(held).toEqual(Array.from({ length: held.length }, (_, k) => 251 - held.length + k));
      } finally {
        await small.close();
      }
    });

    it('says recovered: false for an offset from another epoch (Redis lost its data)', async () => {
      const s = await open({ tid: freshTenant() });
      const ack = await ask(s, 'subscribe', { channels: ['announcements'], since: { announcements: 'deadbeef.1-0' } });
      expect(ack.recovered).toEqual({ announcements: false });
      const bad = await ask(s, 'subscribe', { channels: ['service:counts'], since: { 'service:counts': 'not an offset' } });
      expect(bad.recovered).toEqual({ 'service:counts': false });
    });

    it('serves the same log over GET /realtime/events (polling fallback), paged by offset', async () => {
      const tid = freshTenant();
      const s = await open({ sub: 'p', tid });
      await ask(s, 'subscribe', { channels: ['announcements'] });
      const live = record(s);
      const offsets: string[] = [];
      for (let i = 0; i < 5; i++) offsets.push(await broadcast(tid, 'announcements', 'announcement:new', { i }));
      await eventually(() => live.length >= 5);
      const token = `Bearer ${await t.token({ sub: 'p', tid })}`;
      const page1 = await request(t.url)
        .get('/api/mobile/v1/realtime/events')
        .query({ channel: 'announcements', since: offsets[0], limit: 2 })
        .set('Authorization', token)
        .expect(200);
      expect(page1.body).toMatchObject({ channel: 'announcements', recovered: true, hasMore: true });
      expect(page1.body.events.map((e: any) => e.data.i)).toEqual([1, 2]);
      const page2 = await request(t.url)
        .get('/api/mobile/v1/realtime/events')
        .query({ channel: 'announcements', since: page1.body.offset })
        .set('Authorization', token)
        .expect(200);
      expect(page2.body.events.map((e: any) => e.data.i)).toEqual([3, 4]);
      expect(page2.body.hasMore).toBe(false);
      // Same offsets as the socket saw.
      expect([...page1.body.events, ...page2.body.events].map((e: any) => e.offset)).toEqual(live.slice(1).map(([, , m]) => m.offset));
      const latest = await request(t.url)
        .get('/api/mobile/v1/realtime/events')
        .query({ channel: 'announcements', limit: 2 })
        .set('Authorization', token)
        .expect(200);
      expect(latest.body.events.map((e: any) => e.data.i)).toEqual([3, 4]);
      const bad = await request(t.url)
        .get('/api/mobile/v1/realtime/events')
        .query({ channel: 'announcements', since: 'zzz' })
        .set('Authorization', token)
        .expect(400);
      expect(bad.body.code).toBe('invalid_offset');
      await request(t.url).get('/api/mobile/v1/realtime/events').query({ channel: 'BAD CHANNEL' }).set('Authorization', token).expect(400);
    });

    it("polls with the app's own timestamps: epoch milliseconds and ISO times, and what the log holds when since is older", async () => {
      const tid = freshTenant();
      const token = `Bearer ${await t.token({ sub: 'v', tid })}`;
      const poll = (query: Record<string, string | number>) =>
        request(t.url)
          .get('/api/mobile/v1/realtime/events')
          .query({ channel: 'announcements', ...query })
          .set('Authorization', token);
      const before = Date.now() - 1;
      for (let n = 1; n <= 3; n++) await broadcast(tid, 'announcements', 'announcement:new', { n });
      // The venues app's `?since={timestamp}`: Date.now() as well as toISOString().
      const byMs = await poll({ since: String(before) }).expect(200);
      expect(byMs.body).toMatchObject({ recovered: true, hasMore: false });
      expect(byMs.body.events.map((e: any) => e.data.n)).toEqual([1, 2, 3]);
      const byIso = await poll({ since: new Date(before).toISOString() }).expect(200);
      expect(byIso.body.events.map((e: any) => e.data.n)).toEqual([1, 2, 3]);
      const after = await poll({ since: String(Date.parse(byMs.body.events[1].timestamp)) }).expect(200);
      expect(after.body.events.map((e: any) => e.data.n)).toEqual([3]);
      // Older than the log's reach (default 6 h): what it holds, oldest first, paged, never an empty page.
      const old = Date.now() - 7 * 3600_000;
      for (const since of [String(old), new Date(old).toISOString(), '0', 'deadbeef.1-0']) {
        const page = await poll({ since, limit: 2 }).expect(200);
        expect(page.body).toMatchObject({ recovered: false, hasMore: true });
        expect(page.body.events.map((e: any) => e.data.n)).toEqual([1, 2]);
        const rest = await poll({ since: page.body.offset }).expect(200);
        expect(rest.body).toMatchObject({ recovered: true, hasMore: false });
        expect(rest.body.events.map((e: any) => e.data.n)).toEqual([3]);
      }
      // A socket's since keeps the all-or-nothing rule: no partial replay.
      const s = await open({ sub: 'v', tid });
      const seen = record(s);
      const ack = await ask(s, 'subscribe', { channels: ['announcements'], since: { announcements: String(old) } });
      expect(ack.recovered).toEqual({ announcements: false });
      await sleep(100);
      expect(seen.filter(([e]) => e === 'announcement:new')).toEqual([]);
      // Still refused: what is no time and no offset.
      for (const since of ['zzz', '12ab', '1.5', '-5', '12345678901234567890']) {
        const bad = await poll({ since }).expect(400);
        expect(bad.body.code).toBe('invalid_offset');
      }
    });

    it('keeps a poller (and a resubscribing socket) of a channel with no event yet in step: nothing is lost', async () => {
      const tid = freshTenant();
      const token = `Bearer ${await t.token({ sub: 'q', tid })}`;
      const poll = (since?: string) =>
        request(t.url)
          .get('/api/mobile/v1/realtime/events')
          .query({ channel: 'announcements', ...(since ? { since } : {}) })
          .set('Authorization', token)
          .expect(200);
      const first = await poll();
      expect(first.body).toMatchObject({ recovered: true, events: [] });
      const quiet = await poll(first.body.offset);
      expect(quiet.body).toMatchObject({ recovered: true, events: [] });
      // A socket recovering from that offset, still with nothing published, stays recoverable too.
      const s = await open({ sub: 'q', tid });
      const ack = await ask(s, 'subscribe', { channels: ['announcements'], since: { announcements: quiet.body.offset } });
      expect(ack.recovered).toEqual({ announcements: true });
      s.close();
      await broadcast(tid, 'announcements', 'announcement:new', { n: 1 });
      const caught = await poll(quiet.body.offset);
      expect(caught.body).toMatchObject({ recovered: true, events: [{ data: { n: 1 } }] });
      const again = await open({ sub: 'q', tid });
      const replay = record(again);
      const resumed = await ask(again, 'subscribe', { channels: ['announcements'], since: { announcements: ack.offsets.announcements } });
      expect(resumed.recovered).toEqual({ announcements: true });
      expect(replay.filter(([e]) => e === 'announcement:new').map(([, p]) => p.n)).toEqual([1]);
    });
  });

  it('relays typing to the others in the channel, not back to the sender, and stops it after 5 s of silence', async () => {
    const tid = freshTenant();
    const alice = await open({ sub: 'alice', tid });
    const bob = await open({ sub: 'bob', tid });
    await ask(alice, 'subscribe', { channels: ['announcements'] });
    await ask(bob, 'subscribe', { channels: ['announcements'] });
    const aliceSeen = record(alice);
    const started = next<any>(bob, 'typing:start');
    expect(await ask(alice, 'typing:start', { channel: 'announcements' })).toEqual({ ok: true });
    expect((await started)[0]).toEqual({ channel: 'announcements', userId: 'alice' });
    const stopped = next<any>(bob, 'typing:stop', 7000);
    const t0 = Date.now();
    expect((await stopped)[0]).toEqual({ channel: 'announcements', userId: 'alice' });
    expect(Date.now() - t0).toBeGreaterThan(4000);
    expect(aliceSeen.filter(([e]) => e.startsWith('typing'))).toEqual([]);
    expect(await ask(alice, 'typing:start', { channel: 'service:counts' })).toMatchObject({ error: { code: 'not_subscribed' } });
  }, 15000);

  describe('token lifetime', () => {
    it('closes a socket whose token expired, after the grace period, telling it why', async () => {
      const s = await open({ tid: freshTenant() }, 2);
      // Within its last minute a token is announced as expiring, once.
      const expiring = record(s);
      const expired = next<any>(s, 'auth:expired', 5000);
      const disconnected = next<any>(s, 'disconnect', 5000);
      expect((await expired)[0]).toMatchObject({ code: 'token_expired' });
      expect((await disconnected)[0]).toBe('io server disconnect');
      const warnings = expiring.filter(([e]) => e === 'auth:expiring');
      expect(warnings).toHaveLength(1);
      expect(warnings[0][1]).toMatchObject({ code: 'token_expiring' });
    });

    it('keeps a socket that refreshes its token, and refuses a token for someone else', async () => {
      const tid = freshTenant();
      const s = await open({ sub: 'keeper', tid }, 1);
      expect(await ask(s, 'auth:refresh', { token: await t.token({ sub: 'other', tid }) })).toMatchObject({
        error: { code: 'token_mismatch' },
      });
      expect(await ask(s, 'auth:refresh', { token: 'junk' })).toMatchObject({ error: { code: 'token_invalid' } });
      const ok = await ask(s, 'auth:refresh', { token: await t.token({ sub: 'keeper', tid }, 3600) });
      expect(new Date(ok.expiresAt).getTime()).toBeGreaterThan(Date.now() + 3500_000);
      await sleep(1800);
      expect(s.connected).toBe(true);
    });
  });

  describe('protection', () => {
    let limited: TestApp;
    beforeAll(async () => {
      limited = await startTestApp({
        REALTIME_EVENTS_PER_SECOND: '2',
        REALTIME_CONNECTS_PER_MINUTE_PER_USER: '3',
        REALTIME_MAX_BUFFERED_BYTES: '65536',
      });
    });
    afterAll(() => limited.close());

    it('rate limits a socket’s events with an error ack', async () => {
      const s = await connect(limited.url, await limited.token({ sub: `burst-${Date.now()}` }));
      const acks = [];
      for (let i = 0; i < 6; i++) acks.push(await ask(s, 'subscribe', { channels: ['announcements'] }));
      expect(acks.slice(0, 4).every((a) => Array.isArray(a.subscribed))).toBe(true);
      expect(acks[5]).toMatchObject({ error: { code: 'rate_limited' } });
      s.close();
    });

    it('limits connection attempts per user, counted in Redis', async () => {
      const token = await limited.token({ sub: `storm-${Date.now()}` });
      for (let i = 0; i < 3; i++) (await connect(limited.url, token)).close();
      const err = await connect(limited.url, token).catch((e) => e);
      expect(err.data).toMatchObject({ code: 'rate_limited', retryAfter: expect.any(Number) });
    });

    it('disconnects a client too slow to read, so server memory stays bounded', async () => {
      const tid = freshTenant();
      const s = await connect(limited.url, await limited.token({ sub: 'slow', tid }));
      await ask(s, 'subscribe', { channels: ['announcements'] });
      // Stop reading from the TCP socket, as a stalled phone would.
      const raw = (s.io.engine.transport as any).ws._socket;
      raw.pause();
      const admin = `Bearer ${await limited.token({ tid, roles: ['ADMIN'] })}`;
      const blob = 'x'.repeat(200_000);
      const status = async () =>
        (await request(limited.url).get('/api/mobile/v1/admin/realtime').set('Authorization', admin)).body.pod.sockets as number;
      expect(await status()).toBeGreaterThan(0);
      for (let i = 0; i < 60; i++)
        await request(limited.url)
          .post('/api/mobile/v1/admin/broadcast')
          .set('Authorization', admin)
          .send({ channel: 'announcements', event: 'announcement:new', data: { blob } });
      await eventually(async () => (await status()) === 0, { timeoutMs: 5000, everyMs: 200 });
      const metrics = await request(limited.url).get('/metrics');
      expect(metrics.text).toMatch(/tether_realtime_disconnects_total\{reason="slow_consumer"\} [1-9]/);
      raw.resume();
      s.close();
    });
  });

  it('reports sockets in /health, /admin/realtime and Prometheus', async () => {
    await open({ tid: freshTenant() });
    const health = await request(t.url).get('/health').expect(200);
    expect(health.body.details.realtime).toMatchObject({ status: 'up', podSockets: expect.any(Number) });
    expect(health.body.details.realtime.podSockets).toBeGreaterThan(0);
    const admin = `Bearer ${await t.token({ roles: ['ADMIN'] })}`;
    const status = await request(t.url).get('/api/mobile/v1/admin/realtime').set('Authorization', admin).expect(200);
    expect(status.body.pod.sockets).toBeGreaterThan(0);
    await request(t.url)
      .get('/api/mobile/v1/admin/realtime')
      .set('Authorization', `Bearer ${await t.token()}`)
      .expect(403);
    const metrics = (await request(t.url).get('/metrics')).text;
    for (const name of [
      'tether_realtime_sockets',
      'tether_realtime_connects_total',
      'tether_realtime_handshake_failures_total',
      'tether_realtime_events_published_total',
      'tether_realtime_events_delivered_total',
      'tether_realtime_subscribe_rejections_total',
      'tether_realtime_publish_to_emit_seconds_bucket',
    ])
      expect(metrics).toContain(name);
  });

  it('validates POST /admin/broadcast and requires SERVICE or ADMIN', async () => {
    const admin = `Bearer ${await t.token({ roles: ['ADMIN'] })}`;
    const bad = await request(t.url)
      .post('/api/mobile/v1/admin/broadcast')
      .set('Authorization', admin)
      .send({ channel: 'x y', event: 'Bad Event', data: 'str' })
      .expect(400);
    expect(bad.body.details.map((d: any) => d.field).sort()).toEqual(['channel', 'data', 'event']);
    await request(t.url)
      .post('/api/mobile/v1/admin/broadcast')
      .set('Authorization', `Bearer ${await t.token()}`)
      .send({ channel: 'announcements', event: 'a:b', data: {} })
      .expect(403);
  });
});
