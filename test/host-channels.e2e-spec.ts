import { once } from 'node:events';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import request from 'supertest';
import { eventually, sleep } from '../tools/scratch';
import { connect, next, record, request as ask, ClientSocket } from './support/sockets';
import { broadcast as publish } from './support/broadcast';
import { startTestApp, TestApp } from './support/test-app';

let tenantSeq = 0;
const freshTenant = () => `hc${Date.now().toString(36)}${tenantSeq++}`;

/** A subscription token as the host backend signs it. */
function channelToken(secret: string, claims: Record<string, unknown>, ttlSeconds = 60): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}

interface ProxyCall {
  body: { userId: string; tenantId: string; channel: string };
  authorization?: string;
}

/**
 * The host backend's subscribe proxy, answering by the channel id's first word:
 * ok (200 {allow: true}), empty (204), deny (200 {allow: false, reason}), forbidden (403),
 * error (500), html (200 text/html), slow (answers after 1 s).
 */
async function startProxy(): Promise<{ url: string; calls: ProxyCall[]; close: () => Promise<void> }> {
  const calls: ProxyCall[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const body = JSON.parse(raw) as ProxyCall['body'];
      calls.push({ body, authorization: req.headers.authorization });
      const kind = body.channel.split(':')[1].split('-')[0];
      const json = (status: number, value?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(value === undefined ? undefined : JSON.stringify(value));
      };
      if (kind === 'ok') json(200, { allow: true });
      else if (kind === 'empty') json(204);
      else if (kind === 'deny') json(200, { allow: false, reason: 'not_your_booking' });
      else if (kind === 'forbidden') json(403, { message: 'no' });
      else if (kind === 'html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      else if (kind === 'slow') setTimeout(() => json(200, { allow: true }), 1000);
      else json(500, { message: 'boom' });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tether/subscribe`,
    calls,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe('host-owned channels', () => {
  let t: TestApp;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let secret: string;
  const sockets: ClientSocket[] = [];
  const open = async (sub: string, tid: string) => {
    const s = await connect(t.url, await t.token({ sub, tid }));
    sockets.push(s);
    return s;
  };
  const broadcast = (tid: string, channel: string, event: string, data: object) => publish(t, tid, channel, event, data);
  const callsFor = (channel: string) => proxy.calls.filter((c) => c.body.channel === channel);

  beforeAll(async () => {
    proxy = await startProxy();
    // activity: tokens only; booking: the default for a bare prefix (token, and the proxy since a URL is set); venue: both.
    t = await startTestApp({
      HOST_CHANNELS: 'activity:token, booking, venue:token+proxy',
      SUBSCRIBE_PROXY_URL: proxy.url,
      SUBSCRIBE_PROXY_SECRET: 'proxy-secret',
      SUBSCRIBE_PROXY_TIMEOUT_MS: '300',
    });
    secret = t.config.jwt.secret!;
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(async () => {
    await t.close();
    await proxy.close();
  });

  describe('subscription tokens', () => {
    it('accepts a token naming the user and the channel (channel or channels claim, tid optional)', async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      const ack = await ask(s, 'subscribe', {
        channels: ['activity:1', 'activity:2', 'activity:3'],
        tokens: {
          'activity:1': await channelToken(secret, { sub: 'ana', tid, channel: 'activity:1' }),
          'activity:2': await channelToken(secret, { sub: 'ana', channels: ['activity:2', 'activity:3'] }),
          'activity:3': await channelToken(secret, { sub: 'ana', channels: ['activity:2', 'activity:3'] }),
        },
      });
      expect(ack.rejected).toEqual([]);
      expect(ack.subscribed).toEqual(['activity:1', 'activity:2', 'activity:3']);
      expect(Object.keys(ack.offsets).sort()).toEqual(['activity:1', 'activity:2', 'activity:3']);
    });

    it('refuses missing, expired, badly signed and mismatched tokens with distinct reasons', async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      const good = { sub: 'ana', tid };
      const tokens = {
        'activity:expired': await channelToken(secret, { ...good, channel: 'activity:expired' }, -60),
        'activity:forged': await channelToken('another-secret-that-is-long-enough-0123', { ...good, channel: 'activity:forged' }),
        'activity:garbage': 'not.a.jwt',
        'activity:access': await t.token({ sub: 'ana', tid }),
        'activity:bob': await channelToken(secret, { sub: 'bob', tid, channel: 'activity:bob' }),
        'activity:tenant': await channelToken(secret, { sub: 'ana', tid: 'other-tenant', channel: 'activity:tenant' }),
        'activity:other': await channelToken(secret, { ...good, channel: 'activity:something-else' }),
      };
      const ack = await ask(s, 'subscribe', { channels: ['activity:none', ...Object.keys(tokens)], tokens });
      expect(ack.subscribed).toEqual([]);
      expect(ack.rejected).toEqual([
        { channel: 'activity:none', reason: 'token_required' },
        { channel: 'activity:expired', reason: 'token_expired' },
        { channel: 'activity:forged', reason: 'token_invalid' },
        { channel: 'activity:garbage', reason: 'token_invalid' },
        // An access token names no channel: it is not a subscription token.
        { channel: 'activity:access', reason: 'token_invalid' },
        { channel: 'activity:bob', reason: 'token_mismatch' },
        { channel: 'activity:tenant', reason: 'token_mismatch' },
        { channel: 'activity:other', reason: 'token_mismatch' },
      ]);
      expect(await ask(s, 'subscribe', { channels: ['activity:1'], tokens: { 'activity:1': 42 } })).toMatchObject({
        error: { code: 'invalid_payload' },
      });
    });

    it('never accepts a subscription token as an access token', async () => {
      const token = await channelToken(secret, { sub: 'ana', tid: freshTenant(), channel: 'activity:1' });
      const res = await request(t.url).get('/api/mobile/v1/me').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('token_invalid');
      const err = await connect(t.url, token).then(
        () => Promise.reject(new Error('connected')),
        (e: Error & { data: { code: string } }) => e,
      );
      expect(err.data.code).toBe('token_invalid');
    });

    it('delivers broadcasts on a host channel to the authorized subscriber only', async () => {
      const tid = freshTenant();
      const [ana, bob] = [await open('ana', tid), await open('bob', tid)];
      const channel = 'booking:b-77';
      const anaAck = await ask(ana, 'subscribe', {
        channels: [channel],
        tokens: { [channel]: await channelToken(secret, { sub: 'ana', tid, channel }) },
      });
      const bobAck = await ask(bob, 'subscribe', {
        channels: [channel],
        tokens: { [channel]: await channelToken(secret, { sub: 'ana', tid, channel }) },
      });
      expect(anaAck.subscribed).toEqual([channel]);
      expect(bobAck.rejected).toEqual([{ channel, reason: 'token_mismatch' }]);
      const bobSeen = record(bob);
      const received = next<any>(ana, 'booking:status_update');
      const offset = await broadcast(tid, channel, 'booking:status_update', { bookingId: 'b-77', status: 'confirmed' });
      const [payload, meta] = await received;
      expect(payload).toEqual({ bookingId: 'b-77', status: 'confirmed' });
      expect(meta).toEqual({ channel, offset });
      await sleep(200);
      expect(bobSeen.filter(([event]) => event === 'booking:status_update')).toEqual([]);
    });

    it('lets a token decide when one is sent, without asking the proxy', async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      const channel = 'booking:ok-token';
      const ack = await ask(s, 'subscribe', {
        channels: [channel],
        tokens: { [channel]: await channelToken(secret, { sub: 'bob', tid, channel }) },
      });
      expect(ack.rejected).toEqual([{ channel, reason: 'token_mismatch' }]);
      expect(callsFor(channel)).toEqual([]);
    });
  });

  describe('subscribe proxy', () => {
    it('asks the proxy with the user, tenant and channel and its secret, and follows its answers', async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      const ack = await ask(s, 'subscribe', {
        channels: ['booking:ok-1', 'booking:empty-1', 'venue:ok-1', 'booking:deny-1', 'booking:forbidden-1'],
      });
      expect(ack.subscribed).toEqual(['booking:ok-1', 'booking:empty-1', 'venue:ok-1']);
      expect(ack.rejected).toEqual([
        { channel: 'booking:deny-1', reason: 'not_your_booking' },
        { channel: 'booking:forbidden-1', reason: 'forbidden' },
      ]);
      expect(callsFor('booking:ok-1')).toEqual([
        { body: { userId: 'ana', tenantId: tid, channel: 'booking:ok-1' }, authorization: 'Bearer proxy-secret' },
      ]);
      // activity is token-only here: the proxy is never asked for it.
      expect((await ask(s, 'subscribe', { channels: ['activity:ok-1'] })).rejected).toEqual([
        { channel: 'activity:ok-1', reason: 'token_required' },
      ]);
      expect(callsFor('activity:ok-1')).toEqual([]);
    });

    it('denies with proxy_unavailable when the proxy errors, answers garbage or is too slow, and asks again next time', async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      const started = Date.now();
      const ack = await ask(s, 'subscribe', { channels: ['booking:error-1', 'booking:html-1', 'booking:slow-1'] });
      expect(Date.now() - started).toBeLessThan(900); // the 300 ms timeout, not the proxy's 1 s
      expect(ack.subscribed).toEqual([]);
      expect(ack.rejected).toEqual([
        { channel: 'booking:error-1', reason: 'proxy_unavailable' },
        { channel: 'booking:html-1', reason: 'proxy_unavailable' },
        { channel: 'booking:slow-1', reason: 'proxy_unavailable' },
      ]);
      await ask(s, 'subscribe', { channels: ['booking:error-1'] });
      expect(callsFor('booking:error-1')).toHaveLength(2);
    });

    it('caches allows and denies per tenant, user and channel', async () => {
      const tid = freshTenant();
      const [ana, ana2, bob] = [await open('ana', tid), await open('ana', tid), await open('bob', tid)];
      const channels = ['booking:ok-cache', 'booking:deny-cache'];
      const first = await ask(ana, 'subscribe', { channels });
      await ask(ana, 'unsubscribe', { channels });
      const again = await ask(ana, 'subscribe', { channels });
      const otherSocket = await ask(ana2, 'subscribe', { channels });
      expect(again).toMatchObject({ subscribed: first.subscribed, rejected: first.rejected });
      expect(otherSocket).toMatchObject({
        subscribed: ['booking:ok-cache'],
        rejected: [{ channel: 'booking:deny-cache', reason: 'not_your_booking' }],
      });
      expect(callsFor('booking:ok-cache')).toHaveLength(1);
      expect(callsFor('booking:deny-cache')).toHaveLength(1);
      // Another user is asked about on their own.
      await ask(bob, 'subscribe', { channels });
      expect(callsFor('booking:ok-cache').map((c) => c.body.userId)).toEqual(['ana', 'bob']);
    });

    it('shares one proxy request between concurrent subscribes', async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      const acks = await Promise.all([1, 2, 3].map(() => ask(s, 'subscribe', { channels: ['venue:ok-concurrent'] })));
      expect(acks.map((a) => a.subscribed)).toEqual([['venue:ok-concurrent'], ['venue:ok-concurrent'], ['venue:ok-concurrent']]);
      expect(callsFor('venue:ok-concurrent')).toHaveLength(1);
    });
  });

  describe('polling (GET /realtime/events)', () => {
    it('serves a host channel with a subscription token in X-Channel-Token or ?token=, and refuses it without', async () => {
      const tid = freshTenant();
      const channel = 'activity:poll-1';
      const offset = await broadcast(tid, channel, 'activity:updated', { id: 'poll-1', title: 'Run' });
      const access = await t.token({ sub: 'ana', tid });
      const token = await channelToken(secret, { sub: 'ana', tid, channel });
      const get = (query: Record<string, string>, headers: Record<string, string> = {}) =>
        request(t.url)
          .get('/api/mobile/v1/realtime/events')
          .query({ channel, ...query })
          .set({ Authorization: `Bearer ${access}`, ...headers });

      const viaHeader = await get({}, { 'X-Channel-Token': token });
      expect(viaHeader.status).toBe(200);
      expect(viaHeader.body.events).toEqual([
        expect.objectContaining({ event: 'activity:updated', data: { id: 'poll-1', title: 'Run' }, offset }),
      ]);
      expect((await get({ token })).status).toBe(200);

      const without = await get({});
      expect(without.status).toBe(403);
      expect(without.body).toMatchObject({ code: 'channel_forbidden', message: expect.stringContaining('token_required') });
      const expired = await get({}, { 'X-Channel-Token': await channelToken(secret, { sub: 'ana', tid, channel }, -60) });
      expect(expired.body.message).toContain('token_expired');
    });

    it('asks the proxy for a poller without a token', async () => {
      const tid = freshTenant();
      const access = await t.token({ sub: 'ana', tid });
      const poll = (channel: string) =>
        request(t.url).get('/api/mobile/v1/realtime/events').query({ channel }).set('Authorization', `Bearer ${access}`);
      expect((await poll('booking:ok-poll')).status).toBe(200);
      expect((await poll('booking:forbidden-poll')).status).toBe(403);
      expect(callsFor('booking:ok-poll')).toEqual([
        expect.objectContaining({ body: { userId: 'ana', tenantId: tid, channel: 'booking:ok-poll' } }),
      ]);
    });
  });

  describe("seed 001's rooms", () => {
    it('joins activity_42 as activity:42 with {success: true}, receives its broadcasts, and leaves with room:leave', async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      const token = await channelToken(secret, { sub: 'ana', tid, channel: 'activity:42' });
      const joined = await ask(s, 'room:join', { roomId: 'activity_42', token });
      expect(joined).toMatchObject({ success: true, roomId: 'activity_42', channel: 'activity:42', offset: expect.any(String) });
      const received = next<any>(s, 'activity:user_joined');
      await broadcast(tid, 'activity:42', 'activity:user_joined', { activityId: '42', userId: 'bob', participantCount: 2 });
      expect((await received)[0]).toEqual({ activityId: '42', userId: 'bob', participantCount: 2 });

      expect(await ask(s, 'room:leave', { roomId: 'activity_42' })).toMatchObject({ success: true, channel: 'activity:42' });
      const seen = record(s);
      await broadcast(tid, 'activity:42', 'activity:updated', { id: '42' });
      await sleep(200);
      expect(seen.filter(([event]) => event === 'activity:updated')).toEqual([]);
      // Leaving again is still a success.
      expect(await ask(s, 'room:leave', { roomId: 'activity_42' })).toMatchObject({ success: true });
    });

    it("refuses a room with {error: 'Unauthorized'} and the policy's reason", async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      expect(await ask(s, 'room:join', { roomId: 'activity_42' })).toEqual({
        error: 'Unauthorized',
        reason: 'token_required',
        roomId: 'activity_42',
        channel: 'activity:42',
      });
      const forBob = await channelToken(secret, { sub: 'bob', tid, channel: 'activity:42' });
      expect(await ask(s, 'room:join', { roomId: 'activity_42', tokens: { 'activity:42': forBob } })).toMatchObject({
        error: 'Unauthorized',
        reason: 'token_mismatch',
      });
      expect(await ask(s, 'room:join', { roomId: 'user_someone-else' })).toMatchObject({ error: 'Unauthorized', reason: 'forbidden' });
      expect(await ask(s, 'room:join', { roomId: 'nothing_here' })).toMatchObject({ error: 'Unauthorized', reason: 'unknown_channel' });
      // Nothing was joined: a broadcast does not arrive.
      const seen = record(s);
      await broadcast(tid, 'activity:42', 'activity:updated', { id: '42' });
      await sleep(200);
      expect(seen.filter(([event]) => event === 'activity:updated')).toEqual([]);
    });

    it('accepts channel names as room ids, tokens keyed by room id, the proxy, and since for recovery', async () => {
      const tid = freshTenant();
      const s = await open('ana', tid);
      expect(await ask(s, 'room:join', { roomId: 'announcements' })).toMatchObject({ success: true, channel: 'announcements' });
      expect(await ask(s, 'room:join', { roomId: 'venue_ok-room' })).toMatchObject({ success: true, channel: 'venue:ok-room' });
      const token = await channelToken(secret, { sub: 'ana', tid, channel: 'activity:7' });
      // (A channel that never had an event has no offset to recover from.)
      await broadcast(tid, 'activity:7', 'activity:updated', { id: '7', n: 0 });
      const first = await ask(s, 'room:join', { roomId: 'activity:7', tokens: { 'activity:7': token } });
      expect(first).toMatchObject({ success: true, channel: 'activity:7' });
      await ask(s, 'room:leave', { roomId: 'activity:7' });

      await broadcast(tid, 'activity:7', 'activity:updated', { id: '7', n: 1 });
      await broadcast(tid, 'activity:7', 'activity:updated', { id: '7', n: 2 });
      const seen = record(s);
      const rejoined = await ask(s, 'room:join', { roomId: 'activity_7', tokens: { activity_7: token }, since: first.offset });
      expect(rejoined).toMatchObject({ success: true, recovered: true });
      expect(seen.filter(([e]) => e === 'activity:updated').map(([, p]) => p.n)).toEqual([1, 2]);
    });
  });

  describe('acknowledgements', () => {
    it('acks bad room payloads, bad subscribe payloads and unknown events with an error', async () => {
      const s = await open('ana', freshTenant());
      const badRequest = { error: 'Bad Request', reason: 'invalid_payload', message: expect.any(String) };
      expect(await ask(s, 'room:join', {})).toEqual(badRequest);
      expect(await ask(s, 'room:join', null)).toEqual(badRequest);
      expect(await ask(s, 'room:join', { roomId: 'activity_1', token: 5 })).toEqual(badRequest);
      expect(await ask(s, 'room:join', { roomId: 'activity_1', since: 7 })).toEqual(badRequest);
      expect(await ask(s, 'room:leave', { roomId: 3 })).toEqual(badRequest);
      expect(await ask(s, 'subscribe', { channels: ['activity:1'], tokens: ['x'] })).toMatchObject({ error: { code: 'invalid_payload' } });
      expect(await ask(s, 'room:create', { roomId: 'x' })).toEqual({ error: { code: 'unknown_event', message: expect.any(String) } });
      // Still connected and answering.
      expect(await ask(s, 'room:join', 'announcements')).toMatchObject({ success: true });
    });
  });
});

describe('host-owned channels with a dedicated token secret and a proxy that is down', () => {
  let t: TestApp;
  const tokenSecret = 'channel-token-secret-0123456789abcdef';
  const sockets: ClientSocket[] = [];
  const open = async (sub: string, tid: string) => {
    const s = await connect(t.url, await t.token({ sub, tid }));
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    t = await startTestApp({
      CHANNEL_TOKEN_SECRET: tokenSecret,
      SUBSCRIBE_PROXY_URL: 'http://127.0.0.1:9/subscribe',
      REALTIME_EVENTS_PER_SECOND: '2',
    });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(() => t.close());

  it('denies with proxy_unavailable when the proxy cannot be reached (default prefixes use it)', async () => {
    const s = await open('ana', freshTenant());
    const ack = await ask(s, 'subscribe', { channels: ['activity:1', 'booking:1', 'venue:1'] });
    expect(ack.subscribed).toEqual([]);
    expect(ack.rejected.map((r: { reason: string }) => r.reason)).toEqual(['proxy_unavailable', 'proxy_unavailable', 'proxy_unavailable']);
  });

  it('verifies tokens with CHANNEL_TOKEN_SECRET, not the access-token secret', async () => {
    const tid = freshTenant();
    const s = await open('ana', tid);
    const ack = await ask(s, 'subscribe', {
      channels: ['venue:1', 'venue:2'],
      tokens: {
        'venue:1': await channelToken(tokenSecret, { sub: 'ana', tid, channel: 'venue:1' }),
        'venue:2': await channelToken(t.config.jwt.secret!, { sub: 'ana', tid, channel: 'venue:2' }),
      },
    });
    expect(ack.subscribed).toEqual(['venue:1']);
    expect(ack.rejected).toEqual([{ channel: 'venue:2', reason: 'token_invalid' }]);
  });

  it('acks a rate-limited room:join with an error', async () => {
    const s = await open('ana', freshTenant());
    const acks = await Promise.all([1, 2, 3, 4, 5, 6].map(() => ask(s, 'room:join', { roomId: 'announcements' })));
    expect(acks.filter((a) => a.success)).toHaveLength(4); // a burst of twice the rate
    expect(acks.filter((a) => a.error)).toEqual([
      { error: { code: 'rate_limited', message: expect.any(String) } },
      { error: { code: 'rate_limited', message: expect.any(String) } },
    ]);
    await eventually(async () => Boolean((await ask(s, 'room:leave', { roomId: 'announcements' })).success), {
      timeoutMs: 3000,
      everyMs: 300,
    });
  });
});
