import { Client } from 'pg';
import request from 'supertest';
import { signDevToken } from '../src/core/auth/dev-token';
import {
  CuttableProxy,
  eventually,
  freePort,
  NodeProcess,
  PrivateRedis,
  sleep,
  spawnApp,
  startCuttableProxy,
  startPrivateRedis,
  stopChild,
  waitReady,
} from '../tools/scratch';
import { FakeExpo } from './support/fake-expo';
import { API } from './support/messaging';
import { ClientSocket, connect, record, request as ask } from './support/sockets';

// Redis goes away for a few seconds under two (then three) app processes. They reach a private
// redis-server (never the shared one) through a proxy that cuts every connection and refuses new
// ones: Redis keeps its data, as after a network partition or a failover, so every log must end up
// holding every committed event exactly once. Pushes go to a fake Expo server that counts them.
const run = Date.now().toString(36);
const tid = `outage${run}`;
const secret = process.env.MOBILE_JWT_SECRET!;
const token = (sub: string, roles = ['MEMBER']) => signDevToken(secret, { sub, tid, roles });
const expoToken = (user: string) => `ExponentPushToken[${user}-${run}]`;

interface Pod {
  url: string;
  proc: NodeProcess;
}

/** Every answer a test got, to check that none was a 5xx other than 503. */
const statuses: { what: string; status: number }[] = [];

async function call(pod: Pod, user: string, method: 'get' | 'post', path: string, body?: object, roles?: string[]) {
  const agent = request(pod.url);
  const res = await (method === 'get' ? agent.get(`${API}${path}`) : agent.post(`${API}${path}`))
    .set('Authorization', `Bearer ${await token(user, roles)}`)
    .send(body)
    .timeout(15_000);
  statuses.push({ what: `${method} ${path}`, status: res.status });
  return res;
}

describe('outbox: a Redis outage under several app processes', () => {
  let redis: PrivateRedis;
  let proxy: CuttableProxy;
  const expo = new FakeExpo();
  const pods: Pod[] = [];
  const sockets: ClientSocket[] = [];
  let db: Client;

  const startPod = async (): Promise<Pod> => {
    const port = await freePort();
    const proc = spawnApp({
      PORT: String(port),
      LOG_LEVEL: 'silent',
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      EXPO_PUSH_URL: expo.url,
      OUTBOX_RELAY_DELAY_MS: '300',
      OUTBOX_RELAY_INTERVAL_MS: '200',
      OUTBOX_PUBLISH_TIMEOUT_MS: '500',
      PUSH_RETRY_BASE_MS: '100',
      REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200',
      REALTIME_POD_TIMEOUT_MS: '5000',
    });
    const url = `http://127.0.0.1:${port}`;
    await waitReady(`${url}/health/ready`, proc);
    const pod = { url, proc };
    pods.push(pod);
    return pod;
  };
  const outboxDepth = async () => (await db.query(`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1`, [tid])).rows[0].n as number;
  const readLog = async (pod: Pod, user: string, channel: string) => {
    const res = await call(pod, user, 'get', `/realtime/events?channel=${encodeURIComponent(channel)}&limit=1000`);
    expect(res.status).toBe(200);
    return res.body as { events: { event: string; data: any; offset: string }[]; recovered: boolean };
  };
  const redisAway = async () => {
    proxy.refuse(true);
    proxy.cut();
  };
  const redisBack = () => proxy.refuse(false);

  beforeAll(async () => {
    redis = await startPrivateRedis();
    proxy = await startCuttableProxy({ host: '127.0.0.1', port: redis.port });
    await expo.start();
    db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    await Promise.all([startPod(), startPod(), startPod()]);
  }, 90_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await Promise.all(pods.map((p) => stopChild(p.proc.child, 5000)));
    // Expo tickets whose receipts are due in 15 minutes would hold back other suites' receipt checks.
    await db?.query(`DELETE FROM expo_push_tickets WHERE device_id IN (SELECT id FROM devices WHERE tenant_id = $1)`, [tid]);
    await db?.end();
    await expo.stop();
    await proxy?.close();
    await redis?.destroy();
  }, 30_000);

  it('loses nothing and repeats nothing: logs, sockets and pushes, before, during and after the outage', async () => {
    const [a, b] = pods;
    // Devices: bob (never connected: offline, gets pushes) and dora (admin notify target).
    for (const user of ['bob', 'dora'])
      expect((await call(a, user, 'post', '/devices/register', { token: expoToken(user), platform: 'android' })).status).toBeLessThan(300);
    const ab = (await call(a, 'alice', 'post', '/conversations', { type: 'direct', participantIds: ['bob'] })).body.id as string;
    const ac = (await call(a, 'alice', 'post', '/conversations', { type: 'direct', participantIds: ['carol'] })).body.id as string;
    const service = (await call(a, 'lead', 'post', '/services', { name: 'Sunday', startsAt: new Date().toISOString() }, ['LEADER'])).body
      .id as string;
    // Carol listens on pod B: her conversation with Alice, the counts and the announcements.
    const carol = await connect(b.url, await token('carol'));
    sockets.push(carol);
    const channels = [`conversation:${ac}`, 'service:counts', 'announcements'];
    expect((await ask(carol, 'subscribe', { channels })).subscribed).toEqual(channels);
    const seen = record(carol);

    let n = 0;
    const sends: { conversation: string; clientMessageId: string; status: number }[] = [];
    const send = async (pod: Pod) => {
      const i = n++;
      const conversation = i % 2 ? ab : ac;
      const res = await call(pod, 'alice', 'post', `/conversations/${conversation}/messages`, {
        content: `m${i}`,
        clientMessageId: `m${i}`,
      });
      sends.push({ conversation, clientMessageId: `m${i}`, status: res.status });
    };
    let checkins = 0;
    const checkIn = async (pod: Pod) => {
      const res = await call(pod, `member${checkins++}`, 'post', `/services/${service}/checkins`, {});
      expect(res.status).toBe(201);
    };
    const notifyDora = async (pod: Pod, key: string) => {
      const res = await call(
        pod,
        'ops',
        'post',
        '/admin/notify',
        { userIds: ['dora'], title: key, category: 'system', idempotencyKey: key },
        ['SERVICE'],
      );
      expect(res.status).toBe(202);
    };
    // Open loop: a send every 100 ms through either process, whatever the previous ones take.
    const traffic = async (ms: number) => {
      const until = Date.now() + ms;
      const inFlight = [];
      for (let i = 0; Date.now() < until; i++) {
        inFlight.push(send(pods[i % 2]));
        await sleep(100);
      }
      await Promise.all(inFlight);
    };

    // Before.
    await traffic(600);
    await checkIn(a);
    await notifyDora(a, 'before');
    await eventually(() => outboxDepth().then((d) => d === 0), { timeoutMs: 10_000, what: 'outbox drained before the outage' });
    // And the jobs it enqueued done: a push job still running when Redis goes cannot record its
    // completion and runs again once Redis is back (BullMQ: at least once), a second push.
    const busy = async () => {
      const { queues } = (await call(a, 'ops', 'get', '/admin/queues', undefined, ['SERVICE'])).body as {
        queues: { name: string; counts: Record<string, number> }[];
      };
      const pushes = queues.filter((q) => ['notifications', 'push-delivery'].includes(q.name));
      expect(pushes).toHaveLength(2);
      return pushes.reduce((n, q) => n + q.counts.waiting + q.counts.active + q.counts.delayed + q.counts.prioritized, 0);
    };
    await eventually(async () => (await busy()) === 0, { timeoutMs: 10_000, what: 'queues idle before the outage' });

    // During: a few seconds without Redis.
    await redisAway();
    await sleep(300);
    await traffic(1500);
    await checkIn(b);
    await notifyDora(b, 'during');
    expect((await call(a, 'lead', 'post', '/announcements', { title: 'Outage', content: 'still here' }, ['LEADER'])).status).toBe(201);
    await traffic(1000);
    expect(await outboxDepth()).toBeGreaterThan(0);
    redisBack();

    // After.
    await traffic(600);
    await checkIn(a);
    await notifyDora(a, 'after');
    // A client retries whatever answered 503, with the same clientMessageId.
    for (const s of sends.filter((x) => x.status !== 201)) {
      const res = await call(a, 'alice', 'post', `/conversations/${s.conversation}/messages`, {
        content: 'retry',
        clientMessageId: s.clientMessageId,
      });
      expect([200, 201]).toContain(res.status);
    }
    await eventually(() => outboxDepth().then((d) => d === 0), { timeoutMs: 20_000, what: 'outbox drained after the outage' });

    // No 5xx but 503, and every message (the PostgreSQL-only path) was accepted during the outage.
    expect(statuses.filter((s) => s.status >= 500 && s.status !== 503)).toEqual([]);
    expect(sends.filter((s) => s.status !== 201)).toEqual([]);

    // Every conversation's log: every message exactly once, in seq order.
    for (const [conversation, user] of [
      [ab, 'bob'],
      [ac, 'carol'],
    ]) {
      const stored = (await db.query(`SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq`, [conversation])).rows.map(
        (r) => r.seq,
      );
      const logged = (await readLog(b, user, `conversation:${conversation}`)).events.filter((e) => e.event === 'message:new');
      expect(logged.map((e) => e.data.seq)).toEqual(stored);
    }
    const counts = (await readLog(b, 'carol', 'service:counts')).events.map((e) => e.data.totalCheckins);
    expect(counts).toEqual([1, 2, 3]);
    expect((await readLog(b, 'carol', 'announcements')).events.map((e) => e.data.title)).toEqual(['Outage']);

    // Carol's socket: every event once, live or through the log since the last offset she saw.
    const offsets = new Map<string, string>();
    for (const [, , meta] of seen) if (meta?.offset) offsets.set(meta.channel, meta.offset);
    for (const channel of channels) {
      const live = seen.filter(([, , meta]) => meta?.channel === channel);
      expect(new Set(live.map(([, , meta]) => meta.offset)).size).toBe(live.length);
      const missed = offsets.has(channel)
        ? await call(b, 'carol', 'get', `/realtime/events?channel=${encodeURIComponent(channel)}&since=${offsets.get(channel)}&limit=1000`)
        : undefined;
      expect(missed?.body.recovered ?? true).toBe(true);
      const all = [...live.map(([, , meta]) => meta.offset), ...(missed?.body.events ?? []).map((e: { offset: string }) => e.offset)];
      const logged = (await readLog(b, 'carol', channel)).events.map((e) => e.offset);
      expect(all).toEqual(logged);
    }

    // Pushes: each message to offline Bob once, Dora's notifications once each (and the announcement once per device).
    const abIds = (await db.query(`SELECT id FROM messages WHERE conversation_id = $1`, [ab])).rows.map((r) => r.id).sort();
    await eventually(
      () =>
        new Set(
          expo
            .messagesTo(expoToken('bob'))
            .map((m) => m.data?.messageId)
            .filter(Boolean),
        ).size === abIds.length,
      {
        timeoutMs: 15_000,
        what: 'a push to Bob for every message',
      },
    );
    await eventually(() => expo.messagesTo(expoToken('dora')).length >= 4, { timeoutMs: 15_000, what: 'Dora’s pushes' });
    await sleep(500);
    const toBob = expo.messagesTo(expoToken('bob'));
    expect(
      toBob
        .filter((m) => m.data?.messageId)
        .map((m) => m.data!.messageId)
        .sort(),
    ).toEqual(abIds);
    for (const user of ['bob', 'dora']) {
      const ids = expo.messagesTo(expoToken(user)).map((m) => m.data?.notificationId);
      expect(new Set(ids).size).toBe(ids.length);
    }
    expect(
      expo
        .messagesTo(expoToken('dora'))
        .map((m) => m.title)
        .sort(),
    ).toEqual(['Outage', 'after', 'before', 'during']);
  }, 90_000);

  it('publishes, through another process’s relay, what a process killed right after its commits left behind', async () => {
    const [, b, k] = pods;
    const id = (await call(b, 'kim', 'post', '/conversations', { type: 'direct', participantIds: ['lee'] })).body.id as string;
    const lee = await connect(b.url, await token('lee'));
    sockets.push(lee);
    const ack = await ask(lee, 'subscribe', { channels: [`conversation:${id}`] });
    expect(ack.subscribed).toEqual([`conversation:${id}`]);
    const seen = record(lee);

    // Redis away: the process commits but cannot publish; then it dies before Redis is back.
    await redisAway();
    await sleep(200);
    const sent = [];
    for (let i = 0; i < 5; i++) {
      const res = await call(k, 'kim', 'post', `/conversations/${id}/messages`, { content: `k${i}`, clientMessageId: `k${i}` });
      expect(res.status).toBe(201);
      sent.push(res.body.seq);
    }
    k.proc.child.kill('SIGKILL');
    await k.proc.exited;
    expect(await outboxDepth()).toBeGreaterThanOrEqual(5);
    redisBack();

    await eventually(() => outboxDepth().then((d) => d === 0), {
      timeoutMs: 15_000,
      what: 'the other processes relayed the dead one’s rows',
    });
    const logged = (await readLog(b, 'lee', `conversation:${id}`)).events.filter((e) => e.event === 'message:new');
    expect(logged.map((e) => e.data.seq)).toEqual(sent);
    // Lee's socket: each once, live or (what pod B's pub/sub missed while it reconnected) from the log.
    await sleep(500);
    const live = seen.filter(([e]) => e === 'message:new');
    const since = live.length ? live[live.length - 1][2].offset : ack.offsets[`conversation:${id}`];
    const missed = await call(b, 'lee', 'get', `/realtime/events?channel=${encodeURIComponent(`conversation:${id}`)}&since=${since}`);
    expect(missed.body.recovered).toBe(true);
    expect([...live.map(([, p]) => p.seq), ...missed.body.events.map((e: { data: { seq: number } }) => e.data.seq)]).toEqual(sent);
  }, 60_000);
});
