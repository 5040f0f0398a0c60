import Redis from 'ioredis';
import { io } from 'socket.io-client';
import request from 'supertest';
import { signDevToken } from '../src/core/auth/dev-token';
import { eventually, freePort, NodeProcess, PrivateRedis, sleep, spawnApp, startPrivateRedis, waitReady } from '../tools/scratch';
import { API, messagingClient } from './support/messaging';
import { connect, ClientSocket, next, record, request as ask } from './support/sockets';

// Two app processes on a private redis-server (never the shared one), stopped and started here.
const tid = `outage${Date.now().toString(36)}`;
const token = (sub: string, roles = ['MEMBER']) => signDevToken(process.env.MOBILE_JWT_SECRET!, { sub, tid, roles });
/** What "never hanging" means here: an answer well within the 2 s command timeout plus slack. */
const BOUND_MS = 3000;

interface Pod {
  url: string;
  proc: NodeProcess;
}

async function startPod(redis: PrivateRedis): Promise<Pod> {
  const port = await freePort();
  const proc = spawnApp({
    LOG_LEVEL: 'silent',
    PORT: String(port),
    REDIS_URL: redis.url,
    REALTIME_POD_TIMEOUT_MS: '3000',
    REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/health/ready`, proc);
  return { url, proc };
}

/** The request's response and how long it took. */
async function timed(req: request.Test): Promise<{ res: request.Response; ms: number }> {
  const started = Date.now();
  const res = await req;
  return { res, ms: Date.now() - started };
}

function expectRedisUnavailable({ res, ms }: { res: request.Response; ms: number }): void {
  expect({ status: res.status, code: res.body.code, retryAfter: res.headers['retry-after'] }).toEqual({
    status: 503,
    code: 'redis_unavailable',
    retryAfter: '5',
  });
  expect(ms).toBeLessThan(BOUND_MS);
}

describe('requests while Redis is away', () => {
  let redis: PrivateRedis;
  let a: Pod;
  let b: Pod;
  const sockets: ClientSocket[] = [];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    [a, b] = await Promise.all([startPod(redis), startPod(redis)]);
  }, 60000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const pod of [a, b]) pod?.proc.child.kill('SIGTERM');
    await Promise.all([a?.proc.exited, b?.proc.exited]);
    await redis?.destroy();
  }, 30000);

  it('serves PostgreSQL-only routes, answers 503 redis_unavailable fast elsewhere, keeps sockets, and heals when Redis is back', async () => {
    const alice = messagingClient(a.url, await token('alice'));
    const admin = messagingClient(a.url, await token('ops', ['ADMIN']));
    const conversation = (await alice.post('/conversations', { type: 'direct', participantIds: ['bob'] }).expect(201)).body.id as string;
    const channel = `conversation:${conversation}`;
    await alice.post(`/conversations/${conversation}/messages`, { clientMessageId: 'before', content: 'before' }).expect(201);

    // Bob listens on pod B; Carol on pod A listens to announcements (published on either pod).
    const bob = await connect(b.url, await token('bob'));
    const carol = await connect(a.url, await token('carol'));
    sockets.push(bob, carol);
    expect((await ask(bob, 'subscribe', { channels: [channel] })).subscribed).toEqual([channel]);
    const before = await ask(carol, 'subscribe', { channels: ['announcements'] });
    const oldOffset = before.offsets.announcements as string;
    const disconnects: string[] = [];
    for (const s of [bob, carol]) s.on('disconnect', (reason) => disconnects.push(reason));

    await redis.stop();

    // Whatever needs only PostgreSQL keeps working (the rate limit fails open).
    const reads = [
      alice.get('/conversations'),
      alice.get(`/conversations/${conversation}/messages`),
      alice.get('/sync/changes?collections=events'),
      messagingClient(b.url, await token('bob')).get('/conversations'),
    ];
    for (const req of reads) {
      const { res, ms } = await timed(req);
      expect([res.status, res.body.code]).toEqual([200, undefined]);
      expect(ms).toBeLessThan(BOUND_MS);
    }
    // A registration is written in PostgreSQL; its topic sync is enqueued once Redis is back.
    const registered = await timed(alice.post('/devices/register', { token: `fcm-outage-${tid}-${'x'.repeat(40)}`, platform: 'android' }));
    expect([200, 201]).toContain(registered.res.status);
    expect(registered.ms).toBeLessThan(BOUND_MS);
    // So is a delete: its topic unsubscribes wait in the outbox.
    const deleted = await timed(alice.delete(`/devices/${registered.res.body.id}`));
    expect(deleted.res.status).toBe(204);
    expect(deleted.ms).toBeLessThan(BOUND_MS);

    // What cannot work without Redis: 503 redis_unavailable with Retry-After, never a 500, never a hang.
    expectRedisUnavailable(await timed(alice.get('/realtime/events').query({ channel: 'announcements' })));
    expectRedisUnavailable(
      await timed(admin.post('/admin/broadcast', { channel: 'announcements', event: 'announcement:new', data: { during: true } })),
    );
    // A message send needs only PostgreSQL: stored with its event and push in the outbox, 201.
    const send = await timed(alice.post(`/conversations/${conversation}/messages`, { clientMessageId: 'during', content: 'during' }));
    expect(send.ms).toBeLessThan(BOUND_MS);
    expect(send.res.status).toBe(201);

    // Readiness stays (routing continues); /health says Redis is down.
    const ready = await request(a.url).get('/health/ready').expect(200);
    expect(ready.body.details.redis.status).toBe('down');
    const health = await request(a.url).get('/health').expect(503);
    expect(health.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'redis', status: 'down' })]));

    // A handshake during the outage: the token is checked without Redis, the connection limiter
    // fails open, presence is best effort; the session is announced. Subscribing needs Redis.
    const started = Date.now();
    const dave = io(`${a.url}/realtime`, {
      transports: ['websocket'],
      auth: { token: await token('dave') },
      reconnection: false,
      forceNew: true,
    });
    sockets.push(dave);
    const [session] = await next<{ userId: string }>(dave, 'session', BOUND_MS);
    expect(session.userId).toBe('dave');
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
    const refused = await ask(dave, 'subscribe', { channels: ['announcements'] });
    expect(refused).toEqual({ error: { code: 'redis_unavailable', message: expect.any(String) } });

    await sleep(500);
    expect(disconnects).toEqual([]);
    expect([bob.connected, carol.connected, dave.connected]).toEqual([true, true, true]);

    await redis.start();

    // Both pods come back by themselves.
    for (const pod of [a, b])
      await eventually(async () => (await request(pod.url).get('/health')).status, {
        until: (s) => s === 200,
        timeoutMs: 10000,
        everyMs: 200,
      });
    await eventually(async () => (await alice.get('/realtime/events').query({ channel: 'announcements' })).status, {
      until: (s) => s === 200,
      timeoutMs: 5000,
    });

    // Cross-pod delivery resumes on the sockets that were connected throughout (the adapter's
    // subscriber renewed its subscriptions): a message sent on A reaches Bob on B.
    const bobSeen = record(bob);
    await alice.post(`/conversations/${conversation}/messages`, { clientMessageId: 'after', content: 'after' }).expect(201);
    await eventually(() => bobSeen.some(([e, p]) => e === 'message:new' && p.content === 'after'), {
      timeoutMs: 5000,
      what: 'message on B',
    });
    const carolGot = next<any>(carol, 'announcement:new');
    await messagingClient(b.url, await token('ops', ['ADMIN']))
      .post('/admin/broadcast', { channel: 'announcements', event: 'announcement:new', data: { after: true } })
      .expect(202);
    expect((await carolGot)[0]).toEqual({ after: true });

    // Redis came back empty: an offset from before the outage never "recovers" the empty log.
    const again = await connect(b.url, await token('carol'));
    sockets.push(again);
    const ack = await ask(again, 'subscribe', { channels: ['announcements'], since: { announcements: oldOffset } });
    expect(ack.recovered).toEqual({ announcements: false });
    const polled = await request(b.url)
      .get(`${API}/realtime/events`)
      .query({ channel: 'announcements', since: oldOffset })
      .set('Authorization', `Bearer ${await token('carol')}`)
      .expect(200);
    // Polling says the same, and hands over what the new log holds (issue 13: never an empty page while events exist).
    expect(polled.body).toMatchObject({ recovered: false, events: [{ event: 'announcement:new', data: { after: true } }] });
    expect(polled.body.events).toHaveLength(1);

    // The socket that could not subscribe during the outage can now.
    expect((await ask(dave, 'subscribe', { channels: ['announcements'] })).subscribed).toEqual(['announcements']);
    expect(disconnects).toEqual([]);

    // Presence came back too: the pods put their connected users back in the empty Redis at their
    // next heartbeat (otherwise Bob would count as offline, and every message to him would push).
    const presence = new Redis(redis.url);
    try {
      const field = (user: string) => `${tid}|${user}`;
      await eventually(() => presence.hmget(`${process.env.REDIS_KEY_PREFIX}:rt:presence:users`, field('bob'), field('carol')), {
        until: (counts) => counts.every((c) => c !== null && Number(c) >= 1),
        timeoutMs: 5000,
        what: 'bob and carol online again',
      });
    } finally {
      presence.disconnect();
    }
  }, 60000);
});
