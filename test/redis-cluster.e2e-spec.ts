import { eventually, RedisClusterFixture, sleep, startRedisCluster } from '../tools/scratch';
import { FakeExpo } from './support/fake-expo';
import { accessToken, api, apiOk as call, Pod, startPod, stopPods } from './support/pods';
import { Clients } from './support/tether';

// Tether on a Redis Cluster of its own (three masters, a replica each, started by the test), two
// pods. The representative flows, one per kind of Redis use: the per-channel event log and
// recovery (scripts over a channel's keys), the sharded Socket.IO adapter across pods (SSUBSCRIBE
// per room), presence and acknowledged delivery (presence's one hash tag, delivery hashes spread
// over the masters), BullMQ pushes (its hash-tagged prefix), rate limits (per-key transactions).
// Then a master is killed mid-traffic: its replica takes over and nothing committed is lost.
const run = Date.now().toString(36);
const tid = `cl${run}`;
const token = (user: string, roles = ['MEMBER']) => accessToken(tid, user, roles);

describe('Tether on a Redis Cluster (two pods)', () => {
  const expo = new FakeExpo();
  const clients = new Clients();
  let cluster: RedisClusterFixture;
  let a: Pod;
  let b: Pod;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    await expo.start();
    const env = {
      REDIS_TOPOLOGY: 'cluster',
      REDIS_CLUSTER_NODES: cluster.seeds,
      REDIS_URL: `redis://127.0.0.1:${cluster.nodes[0].port}`,
      EXPO_PUSH_URL: expo.url,
      DELIVERY_ACK_TIMEOUT_MS: '1500',
      REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200',
    };
    [a, b] = await Promise.all([startPod(env), startPod(env)]);
  }, 90_000);
  afterAll(async () => {
    clients.closeAll();
    await stopPods([a, b]);
    await expo.stop();
    await cluster?.destroy();
  }, 30_000);

  const sdk = async (pod: Pod, user: string) => {
    const tether = clients.make({ url: pod.url, token: () => token(user) });
    await eventually(() => tether.state === 'connected', { what: `${user} connected` });
    return tether;
  };
  const conversation = async (from: string, to: string): Promise<string> =>
    (await call(a.url, await token(from), 'POST', '/conversations', { type: 'direct', participantIds: [to] })).id;

  it('delivers messages across pods, acknowledged, and pushes the offline through BullMQ', async () => {
    const phone = `ExponentPushToken[cl-bob-${run}]`;
    await call(b.url, await token('bob'), 'POST', '/devices/register', { token: phone, platform: 'ios' });
    const id = await conversation('alice', 'bob');
    const alice = await sdk(a, 'alice');
    const bob = await sdk(b, 'bob');
    const seen: string[] = [];
    const delivered: number[] = [];
    const sub = bob.subscribe(`conversation:${id}`);
    sub.on('message:new', (m: { id: string }) => seen.push(m.id));
    alice.onEvent('message:delivered', (e: { userId: string; upToSeq: number }) => e.userId === 'bob' && delivered.push(e.upToSeq));
    await eventually(() => sub.state === 'subscribed');

    const sent = [];
    for (let i = 0; i < 5; i++)
      sent.push(await call(a.url, await token('alice'), 'POST', `/conversations/${id}/messages`, { content: `m${i}` }));
    await eventually(() => seen.length === 5, { what: 'five messages at bob' });
    expect(seen).toEqual(sent.map((m) => m.id));
    // Bob's SDK acknowledged: the ticks reach Alice, and no push went out.
    await eventually(() => delivered.includes(5), { what: 'delivered up to 5' });
    await sleep(2000);
    expect(expo.sendRequests.flatMap((r) => r.messages).filter((m) => m.to === phone)).toEqual([]);

    // A reconnect with offsets recovers from the channel's log on its node.
    bob.close();
    const missed = await call(a.url, await token('alice'), 'POST', `/conversations/${id}/messages`, { content: 'while away' });
    await sleep(500); // Bob is offline now (offline debounce 200 ms): this one was pushed
    bob.connect();
    await eventually(() => seen.includes(missed.id), { what: 'the missed message replayed' });
    await eventually(() => expo.sendRequests.flatMap((r) => r.messages).some((m) => m.to === phone), { what: 'the push' });
  }, 60_000);

  it('runs the sharded adapter and is ready on the cluster', async () => {
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/tether_realtime_adapter_info\{mode="sharded"\} 1/);
    const health = await (await fetch(`${b.url}/health/ready`)).json();
    expect(health.status).toBe('ok');
  });

  it('keeps going when a master dies mid-traffic: its replica takes over and nothing committed is lost', async () => {
    const id = await conversation('carol', 'dan');
    const dan = await sdk(b, 'dan');
    const seen = new Set<string>();
    const sub = dan.subscribe(`conversation:${id}`);
    sub.on('message:new', (m: { id: string }) => seen.add(m.id));
    // The SDK says `gap` when the log cannot replay what it missed: the app reloads over REST.
    const reload = async () => {
      const page = await call<{ messages: { id: string }[] }>(b.url, await token('dan'), 'GET', `/conversations/${id}/messages?limit=100`);
      for (const m of page.messages) seen.add(m.id);
    };
    sub.on('gap', () => void reload());
    await eventually(() => sub.state === 'subscribed');

    // The master holding this conversation's log dies while messages flow.
    const victim = await cluster.masterOf(`{${tid}|conversation:${id}}`);
    const committed: string[] = [];
    let failed = 0;
    const carol = await token('carol');
    const sending = (async () => {
      for (let i = 0; i < 40; i++) {
        const res = await api<{ id: string }>(a.url, carol, 'POST', `/conversations/${id}/messages`, { content: `f${i}` });
        if (res.status === 201) committed.push(res.body.id);
        else failed++;
        await sleep(100);
      }
    })();
    await sleep(1000);
    const killedAt = Date.now();
    await victim.stop();
    await sending;
    await cluster.waitHealthy();
    process.stdout.write(
      `redis cluster failover: master killed mid-traffic; ${committed.length} sends committed, ${failed} refused (503), ` +
        `cluster healthy again ${Date.now() - killedAt} ms after the kill (incl. the rest of the traffic)\n`,
    );
    // Every committed message reaches Dan: live, replayed, or reloaded after a gap.
    await eventually(() => committed.filter((m) => !seen.has(m)), {
      until: (missing) => missing.length === 0,
      timeoutMs: 30_000,
      what: 'every committed message at dan',
    });
    expect(committed.length).toBeGreaterThan(20);
  }, 90_000);
});
