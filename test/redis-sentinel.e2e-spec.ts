import { eventually, RedisSentinelFixture, sleep, startRedisSentinels } from '../tools/scratch';
import { FakeExpo } from './support/fake-expo';
import { accessToken, api, apiOk as call, broadcast, Pod, startPod, stopPods } from './support/pods';
import { Clients } from './support/tether';

// Tether behind Redis Sentinel (a primary, a replica and three sentinels started by the test):
// the primary is killed under traffic; ioredis asks the sentinels for the promoted replica by
// itself, the sockets reconnect, BullMQ resumes, and every committed message arrives.
const run = Date.now().toString(36);
const tid = `sn${run}`;
const token = (user: string, roles = ['MEMBER']) => accessToken(tid, user, roles);

describe('Tether behind Redis Sentinel', () => {
  const expo = new FakeExpo();
  const clients = new Clients();
  let redis: RedisSentinelFixture;
  let pod: Pod;

  beforeAll(async () => {
    redis = await startRedisSentinels();
    await expo.start();
    pod = await startPod({
      REDIS_TOPOLOGY: 'sentinel',
      REDIS_SENTINELS: redis.sentinels,
      REDIS_SENTINEL_MASTER: redis.master,
      EXPO_PUSH_URL: expo.url,
      REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200',
    });
  }, 60_000);
  afterAll(async () => {
    clients.closeAll();
    await stopPods([pod]);
    await expo.stop();
    await redis?.destroy();
  }, 30_000);

  it('follows the promotion of the replica after the primary is killed, and loses nothing committed', async () => {
    const id = (await call(pod.url, await token('ann'), 'POST', '/conversations', { type: 'direct', participantIds: ['ben'] })).id;
    const ben = clients.make({ url: pod.url, token: () => token('ben') });
    await eventually(() => ben.state === 'connected');
    const seen = new Set<string>();
    const sub = ben.subscribe(`conversation:${id}`);
    sub.on('message:new', (m: { id: string }) => seen.add(m.id));
    sub.on('gap', () => {
      void (async () => {
        const page = await call<{ messages: { id: string }[] }>(
          pod.url,
          await token('ben'),
          'GET',
          `/conversations/${id}/messages?limit=100`,
        );
        for (const m of page.messages) seen.add(m.id);
      })();
    });
    await eventually(() => sub.state === 'subscribed');

    // Messages flow through the outbox; broadcasts go straight to Redis (they fail while it is away).
    const committed: string[] = [];
    const ann = await token('ann');
    let stop = false;
    const sending = (async () => {
      for (let i = 0; !stop; i++) {
        const res = await api<{ id: string }>(pod.url, ann, 'POST', `/conversations/${id}/messages`, { content: `s${i}` });
        if (res.status === 201) committed.push(res.body.id);
        await sleep(100);
      }
    })();
    await sleep(1000);
    const oldPrimary = redis.primary.port;
    const killedAt = Date.now();
    await redis.primary.stop();
    // The first publish that goes through after the kill: Redis is the new primary for Tether.
    let publishedAt = 0;
    for (let i = 0; !publishedAt && Date.now() - killedAt < 30_000; i++) {
      try {
        await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n: i });
        publishedAt = Date.now();
      } catch {
        await sleep(100);
      }
    }
    expect(publishedAt).toBeGreaterThan(0);
    expect(await redis.currentPrimaryPort()).toBe(redis.replica.port);
    expect(redis.replica.port).not.toBe(oldPrimary);
    process.stdout.write(`redis sentinel failover: first successful publish ${publishedAt - killedAt} ms after the primary was killed\n`);
    await sleep(1000);
    stop = true;
    await sending;

    await eventually(() => committed.filter((m) => !seen.has(m)), {
      until: (missing) => missing.length === 0,
      timeoutMs: 30_000,
      what: 'every committed message at ben',
    });
    expect(committed.length).toBeGreaterThan(10);
    await eventually(() => ben.state === 'connected');

    // BullMQ resumed on the new primary: a push goes out.
    const phone = `ExponentPushToken[sn-cy-${run}]`;
    await call(pod.url, await token('cy'), 'POST', '/devices/register', { token: phone, platform: 'ios' });
    await call(pod.url, await token('backend', ['SERVICE']), 'POST', '/admin/notify', {
      userIds: ['cy'],
      category: 'system',
      title: 'after',
    });
    await eventually(() => expo.sendRequests.flatMap((r) => r.messages).some((m) => m.to === phone), {
      timeoutMs: 15_000,
      what: 'a push after failover',
    });
  }, 90_000);
});
