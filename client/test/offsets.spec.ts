import { createServer, request, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionState, TetherClient, TetherOptions } from '../src/client';
import { memoryStorage, TetherStorage } from '../src/storage';
import { compareOffsets, EventMeta } from '../src/subscriptions';

// The server's test support is outside the SDK's type-checked tree (client/tsconfig.test.json),
// so it is required untyped and described here.
interface TestApp {
  url: string;
  token(claims?: Partial<{ sub: string; tid: string; roles: string[] }>, ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}
/* eslint-disable @typescript-eslint/no-require-imports */
const { startTestApp } = require('../../test/support/test-app') as { startTestApp: () => Promise<TestApp> };
const { broadcast } = require('../../test/support/broadcast') as {
  broadcast: (t: TestApp, tid: string, channel: string, event: string, data: object) => Promise<string>;
};
/* eslint-enable @typescript-eslint/no-require-imports */

async function eventually(check: () => unknown, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${check}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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

  beforeAll(async () => {
    t = await startTestApp();
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
