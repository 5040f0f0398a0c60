import {
  CuttableProxy,
  eventually,
  HttpFaultProxy,
  PrivateRedis,
  sleep,
  startCuttableProxy,
  startHttpFaultProxy,
  startPrivateRedis,
  startTcpRouter,
  TcpRouter,
} from '../tools/scratch';
import { accessToken, api, Pod, startPod, stopPods } from './support/pods';
import { freshTenant } from './support/sync';
import { Clients, states, waitForState } from './support/tether';

// The SDK through a Redis outage: two app processes on a private redis-server (never the shared
// one) reached through a proxy that is cut and refused, so Redis keeps its data (no new log epoch).
// Runs in band (npm test): the pods of another spec of the same run, on the shared Redis, would
// relay this spec's outbox rows (one database) to the wrong Redis while this one is away.
const POD_ENV = {
  OUTBOX_RELAY_DELAY_MS: '300',
  OUTBOX_RELAY_INTERVAL_MS: '200',
  OUTBOX_PUBLISH_TIMEOUT_MS: '500',
  REDIS_COMMAND_TIMEOUT_MS: '500',
  REALTIME_POD_TIMEOUT_MS: '5000',
  REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200',
};

describe('the client through a Redis outage', () => {
  let redis: PrivateRedis;
  let proxy: CuttableProxy;
  let a: Pod;
  let b: Pod;
  const routers: (TcpRouter | HttpFaultProxy)[] = [];
  const clients = new Clients();

  beforeAll(async () => {
    redis = await startPrivateRedis();
    proxy = await startCuttableProxy({ host: '127.0.0.1', port: redis.port });
    const env = { ...POD_ENV, REDIS_URL: `redis://127.0.0.1:${proxy.port}` };
    [a, b] = await Promise.all([startPod(env), startPod(env)]);
  }, 60000);
  // Redis reachable again whatever a failed test left behind.
  afterEach(() => proxy.refuse(false));
  afterAll(async () => {
    clients.closeAll();
    await Promise.all(routers.map((r) => r.close()));
    await stopPods([a, b]);
    await proxy?.close();
    await redis?.destroy();
  }, 30000);

  it('stores messages sent meanwhile once; a client that stayed connected and one that reconnected during the outage get each once, in order', async () => {
    const tid = freshTenant('outage');
    const conversation = (
      await api(a.url, await accessToken(tid, 'alice'), 'POST', '/conversations', { type: 'direct', participantIds: ['bob'] })
    ).body.id as string;
    const channel = `conversation:${conversation}`;
    const alice = clients.make({ url: a.url, token: () => accessToken(tid, 'alice') });
    const lb = await startTcpRouter([b.port]);
    routers.push(lb);
    // Bob's phone stays connected to pod B; his tablet's connection to pod B is cut during the outage.
    const devices = [b.url, lb.url].map((url) => {
      const tether = clients.make({ url, token: () => accessToken(tid, 'bob') });
      const sub = tether.subscribe(channel);
      const seqs: number[] = [];
      const seen = { gaps: 0, subscribed: 0 };
      sub.on('message:new', (message: { seq: number }) => seqs.push(message.seq));
      sub.on('gap', () => seen.gaps++);
      sub.on('subscribed', () => seen.subscribed++);
      return { tether, sub, seqs, seen };
    });
    const tablet = devices[1];
    await waitForState(alice, 'connected');
    for (const d of devices) await eventually(() => d.seen.subscribed === 1, { what: 'bob subscribed' });

    expect((await alice.messages.send(conversation, 'before')).seq).toBe(1);
    for (const d of devices) await eventually(() => d.seqs.length === 1, { what: 'the first message' });

    // Redis away: sends are stored (PostgreSQL and the outbox); the tablet loses its connection.
    proxy.refuse(true);
    proxy.cut();
    await sleep(300);
    expect((await alice.messages.send(conversation, 'during 1')).seq).toBe(2);
    expect((await alice.messages.send(conversation, 'during 2')).seq).toBe(3);
    // It reconnects at once (within the first backoff step): watch its states, not a sample of them.
    const tabletStates = states(tablet.tether);
    lb.cut();
    await eventually(() => tabletStates.includes('connecting') && tablet.tether.state === 'connected', { what: 'the tablet reconnected' });
    await sleep(1000);
    for (const d of devices) expect(d.seqs).toEqual([1]);
    expect(tablet.seen.subscribed).toBe(1);

    proxy.refuse(false);
    for (const d of devices) await eventually(() => d.seqs.length >= 3, { what: 'the outbox’s events', timeoutMs: 20_000, everyMs: 100 });
    expect(tablet.seen.subscribed).toBe(2);
    expect((await alice.messages.send(conversation, 'after')).seq).toBe(4);
    for (const d of devices) await eventually(() => d.seqs.length >= 4, { what: 'a live message' });
    await sleep(500);
    for (const d of devices) {
      expect(d.seqs).toEqual([1, 2, 3, 4]);
      expect(d.seen.gaps).toBe(0);
    }
    const history = await api(b.url, await accessToken(tid, 'bob'), 'GET', `/conversations/${conversation}/messages`);
    expect(history.body.messages.map((m: { seq: number; content: string }) => [m.seq, m.content])).toEqual([
      [1, 'before'],
      [2, 'during 1'],
      [3, 'during 2'],
      [4, 'after'],
    ]);
  }, 45000);

  it('a polling client waits out 503 redis_unavailable and then gets what the outbox published, once and in order', async () => {
    const tid = freshTenant('pollout');
    const conversation = (
      await api(a.url, await accessToken(tid, 'alice'), 'POST', '/conversations', { type: 'direct', participantIds: ['bob'] })
    ).body.id as string;
    const channel = `conversation:${conversation}`;
    const alice = clients.make({ url: a.url, token: () => accessToken(tid, 'alice') });
    const gate = await startHttpFaultProxy(b.port);
    routers.push(gate);
    gate.blockSocketPath(true);
    const bob = clients.make({ url: gate.url, token: () => accessToken(tid, 'bob'), polling: { intervalMs: 300, afterFailures: 1 } });
    const errors: { status?: number; code?: string }[] = [];
    bob.on('error', (err) => errors.push(err as { status?: number; code?: string }));
    const sub = bob.subscribe(channel);
    const seqs: number[] = [];
    let gaps = 0;
    sub.on('message:new', (message: { seq: number }) => seqs.push(message.seq));
    sub.on('gap', () => gaps++);
    await waitForState(bob, 'polling');
    await eventually(() => sub.state === 'subscribed', { what: 'subscribed through polling' });
    await waitForState(alice, 'connected');
    expect((await alice.messages.send(conversation, 'before')).seq).toBe(1);
    await eventually(() => seqs.length === 1, { what: 'the first message through polling' });

    proxy.refuse(true);
    proxy.cut();
    for (const content of ['during 1', 'during 2']) await alice.messages.send(conversation, content);
    await eventually(() => errors.some((e) => e.code === 'redis_unavailable'), { what: 'a 503 redis_unavailable poll' });
    proxy.refuse(false);
    // Retry-After: 5 on the 503: the next poll waits that long.
    await eventually(() => seqs.length === 3, { what: 'the outbox’s events through polling', timeoutMs: 15_000, everyMs: 100 });
    await alice.messages.send(conversation, 'after');
    await eventually(() => seqs.length === 4, { what: 'the next message' });
    await sleep(700);
    expect(seqs).toEqual([1, 2, 3, 4]);
    expect(gaps).toBe(0);
    expect(bob.state).toBe('polling');
  }, 40000);
});
