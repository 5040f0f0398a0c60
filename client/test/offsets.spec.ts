import { createServer, request, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { ConnectionState, TetherClient, TetherOptions } from '../src/client';
import { memoryStorage, TetherStorage } from '../src/storage';
import { JsonStore, realClock, SocketLink } from '../src/context';
import { compareOffsets, EventMeta, Subscriptions } from '../src/subscriptions';
import { startTestApp, TestApp } from '../../test/support/test-app';
import { broadcast } from '../../test/support/broadcast';
import { eventually } from '../../tools/scratch';

// The client against the real server (in-process app, this run's PostgreSQL and Redis): connect,
// subscribe, offsets from meta and acks persisted, `since` on resubscribe, gaps, token refusals.
describe('TetherClient offsets and connection (real server)', () => {
  let t: TestApp;
  const tid = `sdkoff${Date.now().toString(36)}`;
  const clients: TetherClient[] = [];
  const tether = (options: Partial<TetherOptions> & { storage: TetherStorage }) => {
    const c = new TetherClient({ url: t.url, token: () => t.token({ sub: 'ann', tid }), polling: false, ...options });
    clients.push(c);
    return c;
  };
  const saved = async (storage: TetherStorage) => JSON.parse(((await storage.getItem('tether:offsets')) as string) ?? '{}');

  const CHANNEL_SECRET = 'channel-token-secret-of-the-host-backend-0123456789';
  const channelToken = (channel: string, ttlSeconds: number) =>
    new SignJWT({ channel, tid })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ann')
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(new TextEncoder().encode(CHANNEL_SECRET));

  beforeAll(async () => {
    t = await startTestApp({ HOST_CHANNELS: 'booking:token', CHANNEL_TOKEN_SECRET: CHANNEL_SECRET, REALTIME_TOKEN_GRACE_MS: '300' });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('persists offsets from the ack and from events, and resubscribes with `since`: the missed events once, in order, before live ones', async () => {
    const storage = memoryStorage();
    const first = tether({ storage });
    const seen: [string, EventMeta][] = [];
    const sub = first.subscribe('announcements');
    sub.on('announcement:new', (p: { n: number }, meta) => seen.push([`a${p.n}`, meta]));
    first.connect();
    await new Promise((resolve) => sub.once('subscribed', resolve));
    expect(first.state).toBe('connected');
    expect(sub.offset).toEqual(expect.any(String));
    await eventually(async () => (await saved(storage)).announcements === sub.offset);

    const o1 = await broadcast(t, tid, 'announcements', 'announcement:new', { n: 1 });
    await eventually(() => seen.length === 1);
    expect(seen[0]).toEqual(['a1', { channel: 'announcements', offset: o1 }]);
    await eventually(async () => (await saved(storage)).announcements === o1);
    first.close();

    // Missed while closed: replayed to the next client on the same storage, then live.
    await broadcast(t, tid, 'announcements', 'announcement:new', { n: 2 });
    const o3 = await broadcast(t, tid, 'announcements', 'announcement:new', { n: 3 });
    const second = tether({ storage });
    const got: string[] = [];
    const all: string[] = [];
    const again = second.subscribe('announcements');
    again.on('announcement:new', (p: { n: number }) => got.push(`a${p.n}`));
    second.onEvent('announcement:new', (p: { n: number }) => all.push(`a${p.n}`));
    let gap = false;
    again.on('gap', () => (gap = true));
    const subscribed = new Promise<{ recovered?: Record<string, boolean> }>((resolve) => again.once('subscribed', resolve));
    second.connect();
    const ack = await subscribed;
    expect(ack.recovered).toEqual({ announcements: true });
    // Replays arrive before the ack resolves: already handed over, once.
    expect(got).toEqual(['a2', 'a3']);
    expect(again.offset).toBe(o3);
    await broadcast(t, tid, 'announcements', 'announcement:new', { n: 4 });
    await eventually(() => got.length === 3);
    expect(got).toEqual(['a2', 'a3', 'a4']);
    expect(all).toEqual(got);
    expect(gap).toBe(false);
  });

  it('emits `gap` when the saved offset cannot be recovered, then continues from the ack offset', async () => {
    const storage = memoryStorage();
    await storage.setItem('tether:offsets', JSON.stringify({ announcements: 'gone.1-0' }));
    const client = tether({ storage });
    const sub = client.subscribe('announcements');
    const gap = new Promise<void>((resolve) => sub.once('gap', resolve));
    client.connect();
    await gap;
    expect(sub.offset).not.toBe('gone.1-0');
    await eventually(async () => (await saved(storage)).announcements === sub.offset);
  });

  it('forgets the offset of an unsubscribed channel', async () => {
    const storage = memoryStorage();
    const client = tether({ storage });
    const sub = client.subscribe('service:counts');
    client.connect();
    await new Promise((resolve) => sub.once('subscribed', resolve));
    await eventually(async () => Boolean((await saved(storage))['service:counts']));
    sub.unsubscribe();
    await eventually(async () => (await saved(storage))['service:counts'] === undefined);
  });

  it('pauses when the network goes away and comes back at once when it returns, with the missed events', async () => {
    let setOnline: (up: boolean) => void = () => undefined;
    const network = { subscribe: (listener: (up: boolean) => void) => ((setOnline = listener), () => undefined) };
    const reachable: string[] = [];
    const client = tether({ storage: memoryStorage(), network, reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 } });
    client.context.socket.onReachable(() => reachable.push(client.state));
    const got: number[] = [];
    const sub = client.subscribe('announcements');
    sub.on('announcement:new', (p: { n: number }) => got.push(p.n));
    client.connect();
    await new Promise((resolve) => sub.once('subscribed', resolve));
    expect(client.context.socket.connected).toBe(true);

    setOnline(false);
    expect(client.state).toBe('offline');
    expect(client.context.socket.connected).toBe(false);
    await broadcast(t, tid, 'announcements', 'announcement:new', { n: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual([]);

    // Promptly: not after the (here one-minute) backoff.
    setOnline(true);
    await eventually(() => got.length === 1);
    expect(client.state).toBe('connected');
    expect(got).toEqual([1]);
    expect(reachable).toEqual(['connected', 'offline', 'connected']);
  });

  it('sends subscription tokens of host-owned channels, asking once more after `token_expired`', async () => {
    const client = tether({ storage: memoryStorage() });
    let calls = 0;
    const booking = client.subscribe('booking:9', { token: () => channelToken('booking:9', ++calls === 1 ? -60 : 300) });
    const rejected: string[] = [];
    const other = client.subscribe('booking:10', { token: () => 'not-a-token' });
    other.on('rejected', (reason) => rejected.push(reason));
    const refused = client.subscribe('booking:11');
    client.connect();
    await new Promise((resolve) => booking.once('subscribed', resolve));
    expect(calls).toBe(2);
    await eventually(() => rejected.length === 1 && refused.state === 'rejected');
    expect(rejected).toEqual(['token_invalid']);
    expect(refused.reason).toBe('token_required');
    const got: unknown[] = [];
    booking.on('booking:updated', (p) => got.push(p));
    await broadcast(t, tid, 'booking:9', 'booking:updated', { status: 'confirmed' });
    await eventually(() => got.length === 1);
  });

  it('presence: of() over HTTP, follow() over the socket with updates, channel members, typing', async () => {
    const ann = tether({ storage: memoryStorage() });
    ann.connect();
    await eventually(() => ann.state === 'connected');
    expect(await ann.presence.of(['ann', 'nobody', 'ann'])).toMatchObject([
      { userId: 'ann', status: 'online' },
      { userId: 'nobody', status: 'offline', lastSeen: null },
    ]);
    const updates: { userId: string; status: string }[] = [];
    ann.presence.on('update', (u) => updates.push(u));
    expect(await ann.presence.follow(['bob'])).toEqual([{ userId: 'bob', status: 'offline', lastSeen: null }]);
    const bob = tether({ storage: memoryStorage(), token: () => t.token({ sub: 'bob', tid }) });
    bob.connect();
    await eventually(() => updates.some((u) => u.userId === 'bob' && u.status === 'online'));

    // A presence channel: the ack's members, then member:joined / member:left.
    const { id } = await ann.http.post<{ id: string }>('/conversations', { type: 'direct', participantIds: ['bob'] });
    const annSub = ann.subscribe(`conversation:${id}`);
    const seen: string[][] = [];
    annSub.on('members', (m) => seen.push(m));
    await new Promise((resolve) => annSub.once('subscribed', resolve));
    expect(annSub.members).toEqual(['ann']);
    const bobSub = bob.subscribe(`conversation:${id}`);
    await eventually(() => annSub.members.includes('bob'));
    const typing: unknown[] = [];
    annSub.on('typing:start', (p) => typing.push(p));
    bobSub.typing(true);
    await eventually(() => typing.length === 1);
    expect(typing).toEqual([{ channel: `conversation:${id}`, userId: 'bob' }]);
    bobSub.unsubscribe();
    await eventually(() => !annSub.members.includes('bob'));
    expect(seen).toEqual([['ann'], ['ann', 'bob'], ['ann']]);
  });

  it('asks token() once more after a `token_expired` refusal, and connects', async () => {
    let calls = 0;
    const client = tether({
      storage: memoryStorage(),
      token: () => (++calls === 1 ? t.token({ sub: 'ann', tid }, -3600) : t.token({ sub: 'ann', tid })),
    });
    const errors: unknown[] = [];
    client.on('error', (err) => errors.push(err));
    client.connect();
    await eventually(() => client.state === 'connected');
    expect(calls).toBe(2);
    expect(errors).toEqual([]);
  });

  it('refreshes a token about to expire on the same socket (`auth:refresh`), without reconnecting', async () => {
    let calls = 0;
    // The first token expires in 30 s: the server warns at once (a minute ahead).
    const client = tether({ storage: memoryStorage(), token: () => t.token({ sub: 'ann', tid }, ++calls === 1 ? 30 : 3600) });
    const states: ConnectionState[] = [];
    const errors: unknown[] = [];
    client.on('state', (s) => states.push(s));
    client.on('error', (err) => errors.push(err));
    client.connect();
    await eventually(() => calls === 2);
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls).toBe(2);
    expect(states).toEqual(['connecting', 'connected']);
    expect(errors).toEqual([]);
  });

  it('reconnects at once with a new token after `auth:expired`, and recovers what was missed meanwhile', async () => {
    let calls = 0;
    const short = await t.token({ sub: 'ann', tid }, 2);
    // The app has no newer token at `auth:expiring` (the same one comes back: not sent again), a new one later.
    const client = tether({ storage: memoryStorage(), token: () => (++calls <= 2 ? short : t.token({ sub: 'ann', tid })) });
    const states: ConnectionState[] = [];
    client.on('state', (s) => states.push(s));
    const got: number[] = [];
    const sub = client.subscribe('announcements');
    sub.on('announcement:new', (p: { n: number }) => got.push(p.n));
    client.connect();
    await new Promise((resolve) => sub.once('subscribed', resolve));
    await eventually(() => states.length > 2, { timeoutMs: 6000 });
    await broadcast(t, tid, 'announcements', 'announcement:new', { n: 1 });
    await eventually(() => client.state === 'connected' && got.length === 1, { timeoutMs: 6000 });
    expect(calls).toBe(3);
    expect(states).toEqual(['connecting', 'connected', 'connecting', 'connected']);
  });

  it('surfaces another refusal on `error` and stays offline without retrying', async () => {
    let calls = 0;
    const client = tether({
      storage: memoryStorage(),
      token: () => {
        calls++;
        return 'not-a-jwt';
      },
    });
    const errors: { code?: string }[] = [];
    client.on('error', (err) => errors.push(err as { code?: string }));
    client.connect();
    await eventually(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ name: 'TetherSocketError', code: 'token_invalid' });
    expect(client.state).toBe('offline');
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls).toBe(1);
  });
});

/** A proxy in front of the app that refuses Socket.IO while `blocked` (as a proxy without WebSocket or long-polling would). */
async function blockingProxy(target: string): Promise<{ url: string; blocked: boolean; close(): Promise<void> }> {
  const proxy = {
    url: '',
    blocked: true,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    if (proxy.blocked && req.url?.startsWith('/socket.io')) return void res.writeHead(503).end();
    const upstream = request(target + req.url, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('upgrade', (_req, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

describe('TetherClient polling fallback (real server)', () => {
  let t: TestApp;
  const tid = `sdkpoll${Date.now().toString(36)}`;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('falls back to Socket.IO long-polling in the same attempt when only WebSocket upgrades are refused', async () => {
    const proxy = await blockingProxy(t.url);
    proxy.blocked = false; // upgrades are still refused
    const client = new TetherClient({ url: proxy.url, token: () => t.token({ sub: 'pol', tid }) });
    try {
      const states: ConnectionState[] = [];
      client.on('state', (s) => states.push(s));
      const got: number[] = [];
      const sub = client.subscribe('announcements');
      sub.on('announcement:new', (p: { n: number }) => got.push(p.n));
      client.connect();
      await new Promise((resolve) => sub.once('subscribed', resolve));
      await broadcast(t, tid, 'announcements', 'announcement:new', { n: 1 });
      await eventually(() => got.length === 1);
      expect(states).toEqual(['connecting', 'connected']);
    } finally {
      client.close();
      await proxy.close();
    }
  });

  it('polls /realtime/events while the socket cannot connect, then switches back with no duplicate and no gap', async () => {
    const proxy = await blockingProxy(t.url);
    const storage = memoryStorage();
    const client = new TetherClient({
      url: proxy.url,
      token: () => t.token({ sub: 'pol', tid }),
      storage,
      transports: ['polling'],
      polling: { intervalMs: 1000, afterFailures: 2 },
      reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
    });
    try {
      const got: [number, EventMeta][] = [];
      const states: ConnectionState[] = [];
      client.on('state', (s) => states.push(s));
      const sub = client.subscribe('announcements');
      sub.on('announcement:new', (p: { n: number }, meta) => got.push([p.n, meta]));
      client.connect();
      await eventually(() => client.state === 'polling');
      // Its first poll fixes where the channel starts (the server's position), as a socket's ack would.
      await eventually(() => sub.state === 'subscribed');

      const o1 = await broadcast(t, tid, 'announcements', 'announcement:new', { n: 1 });
      const o2 = await broadcast(t, tid, 'announcements', 'announcement:new', { n: 2 });
      await eventually(() => got.length === 2);
      expect(got).toEqual([
        [1, { channel: 'announcements', offset: o1 }],
        [2, { channel: 'announcements', offset: o2 }],
      ]);
      await eventually(async () => JSON.parse((await storage.getItem('tether:offsets')) as string).announcements === o2);

      // The socket comes back while events keep coming: each is handed over once, in order.
      proxy.blocked = false;
      await broadcast(t, tid, 'announcements', 'announcement:new', { n: 3 });
      await eventually(() => client.state === 'connected');
      await broadcast(t, tid, 'announcements', 'announcement:new', { n: 4 });
      await eventually(() => got.length === 4);
      await new Promise((r) => setTimeout(r, 400));
      expect(got.map(([n]) => n)).toEqual([1, 2, 3, 4]);
      expect(states).toEqual(['connecting', 'polling', 'connected']);
    } finally {
      client.close();
      await proxy.close();
    }
  });
});

describe('compareOffsets', () => {
  it('orders offsets of one epoch by stream id and refuses to compare across epochs', () => {
    expect(compareOffsets('e1.1700000000000-2', 'e1.1700000000000-10')).toBeLessThan(0);
    expect(compareOffsets('e1.1700000000001-0', 'e1.1700000000000-10')).toBeGreaterThan(0);
    expect(compareOffsets('e1.5-1', 'e1.5-1')).toBe(0);
    expect(compareOffsets('e1.5-1', 'e2.6-1')).toBeUndefined();
    expect(compareOffsets('garbage', 'e2.6-1')).toBeUndefined();
  });
});

describe('Subscriptions (a scripted socket link)', () => {
  /** The socket as Subscriptions sees it; each `subscribe` is answered by the test. */
  function scriptedLink() {
    const sent: { event: string; data: any; answer: (ack: unknown) => void }[] = [];
    const link: SocketLink & { sent: typeof sent } = {
      sent,
      connected: true,
      emitWithAck: <T>(event: string, data: unknown) =>
        new Promise<T>((resolve) => sent.push({ event, data, answer: (ack) => resolve(ack as T) })),
      onReachable: () => () => undefined,
    };
    return link;
  }
  const setup = async (saved?: Record<string, string>) => {
    const storage = memoryStorage();
    if (saved) await storage.setItem('tether:offsets', JSON.stringify(saved));
    const link = scriptedLink();
    const errors: unknown[] = [];
    const subs = new Subscriptions(link, new JsonStore(storage), realClock, 1000, (e) => errors.push(e));
    await subs.loaded;
    return { storage, link, subs, errors };
  };
  const tick = () => new Promise((r) => setTimeout(r, 5));

  it('sends every channel in one subscribe with its saved offset as since', async () => {
    const { link, subs } = await setup({ a: 'e.1-0', b: 'e.2-0', gone: 'e.3-0' });
    subs.add('a');
    subs.add('b');
    subs.add('c', { token: () => 'tok' });
    await tick();
    // Each add while connected is batched within the tick; a reconnect sends them all again.
    subs.resubscribe();
    await tick();
    const last = link.sent[link.sent.length - 1];
    expect(last.event).toBe('subscribe');
    expect(last.data).toEqual({ channels: ['a', 'b', 'c'], since: { a: 'e.1-0', b: 'e.2-0' }, tokens: { c: 'tok' } });
  });

  it('delivers replays that arrive before the ack once, drops repeats, and never moves an offset back', async () => {
    const { link, subs, storage } = await setup({ a: 'e.1-0' });
    const sub = subs.add('a');
    subs.resubscribe();
    await tick();
    const delivered = (offset: string) => subs.deliver('x', {}, { channel: 'a', offset }).fresh;
    // Replays, then a live event, all before the ack resolves.
    expect([delivered('e.2-0'), delivered('e.3-0'), delivered('e.4-0')]).toEqual([true, true, true]);
    expect(sub.state).toBe('pending');
    // A repeat of any of them is dropped.
    expect([delivered('e.3-0'), delivered('e.4-0')]).toEqual([false, false]);
    link.sent[0].answer({ subscribed: ['a'], rejected: [], offsets: { a: 'e.3-0' }, recovered: { a: true } });
    await tick();
    expect(sub.state).toBe('subscribed');
    expect(sub.offset).toBe('e.4-0');
    await eventually(async () => JSON.parse((await storage.getItem('tether:offsets')) as string).a === 'e.4-0');
    // An event of another epoch (Redis lost its log) is not compared: delivered.
    expect(delivered('f.1-0')).toBe(true);
  });

  it('emits gap on recovered: false and takes the ack offset as is', async () => {
    const { link, subs } = await setup({ a: 'e.9-0' });
    const sub = subs.add('a');
    let gaps = 0;
    sub.on('gap', () => gaps++);
    subs.resubscribe();
    await tick();
    link.sent[0].answer({ subscribed: ['a'], rejected: [], offsets: { a: 'f.5-0' }, recovered: { a: false } });
    await tick();
    expect(gaps).toBe(1);
    expect(sub.offset).toBe('f.5-0');
  });

  it('asks a subscription token again once after token_expired, then reports the refusal', async () => {
    const { link, subs } = await setup();
    let calls = 0;
    const sub = subs.add('booking:1', { token: () => `t${++calls}` });
    const reasons: string[] = [];
    sub.on('rejected', (r) => reasons.push(r));
    subs.resubscribe();
    await tick();
    expect(link.sent[0].data.tokens).toEqual({ 'booking:1': 't1' });
    link.sent[0].answer({ subscribed: [], rejected: [{ channel: 'booking:1', reason: 'token_expired' }], offsets: {} });
    await tick();
    expect(link.sent[1].data.tokens).toEqual({ 'booking:1': 't2' });
    link.sent[1].answer({ subscribed: [], rejected: [{ channel: 'booking:1', reason: 'token_expired' }], offsets: {} });
    await tick();
    expect(link.sent).toHaveLength(2);
    expect(reasons).toEqual(['token_expired']);
    expect(sub.state).toBe('rejected');
  });

  it('ignores the ack of a connection that is gone (the next connect resubscribes)', async () => {
    const { link, subs } = await setup();
    const sub = subs.add('a');
    subs.resubscribe();
    await tick();
    subs.disconnected();
    link.sent[0].answer({ subscribed: ['a'], rejected: [], offsets: { a: 'e.1-0' } });
    await tick();
    expect(sub.state).toBe('pending');
    expect(sub.offset).toBeUndefined();
  });
});
