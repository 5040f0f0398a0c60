import { createServer, Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as IoServer, Socket as ServerSocket } from 'socket.io';
import { ACK_BATCH, DeliveryAcks } from '../src/acks';
import { TetherClient, TetherOptions, TetherSocketError } from '../src/client';
import { Clock, JsonStore, realClock, SocketLink } from '../src/context';
import { FetchLike, HttpClient } from '../src/http';
import { Poller } from '../src/polling';
import { memoryStorage } from '../src/storage';
import { EventMeta, Subscriptions } from '../src/subscriptions';
import { TokenSource } from '../src/tokens';
import { messagingClient } from '../../test/support/messaging';
import type { TestApp } from '../../test/support/test-app';
import { eventually } from '../../tools/scratch';

/** A clock whose sleeps end only when the test advances it. */
function manualClock() {
  let now = 0;
  const timers: { at: number; resolve: () => void }[] = [];
  const clock: Clock & { advance(ms: number): Promise<void> } = {
    now: () => now,
    sleep: (ms) => new Promise<void>((resolve) => timers.push({ at: now + ms, resolve })),
    async advance(ms) {
      now += ms;
      for (const t of timers.filter((t) => t.at <= now)) {
        timers.splice(timers.indexOf(t), 1);
        t.resolve();
      }
      await settle();
    },
  };
  return clock;
}
const settle = () => new Promise((resolve) => setImmediate(resolve));
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m:${from + i}`);

describe('DeliveryAcks', () => {
  const setup = (answer: (ids: string[]) => Promise<unknown> = () => Promise.resolve()) => {
    const clock = manualClock();
    const sent: string[][] = [];
    const errors: unknown[] = [];
    const state = { ready: true };
    const acks = new DeliveryAcks(
      (batch) => {
        sent.push(batch);
        return answer(batch);
      },
      clock,
      () => state.ready,
      (err) => errors.push(err),
    );
    return { clock, sent, errors, state, acks };
  };

  it('sends the ids received within 25 ms in one batch, 25 ms after the first', async () => {
    const { clock, sent, acks } = setup();
    acks.add('m:1');
    await clock.advance(10);
    acks.add('n:1');
    await clock.advance(14);
    expect(sent).toEqual([]);
    await clock.advance(1);
    expect(sent).toEqual([['m:1', 'n:1']]);
    // The next id starts the next batch.
    acks.add('m:2');
    await clock.advance(24);
    expect(sent).toHaveLength(1);
    await clock.advance(1);
    expect(sent).toEqual([['m:1', 'n:1'], ['m:2']]);
  });

  it('sends at once at 100 ids, the rest 25 ms later (the earlier timer sends nothing more)', async () => {
    const { clock, sent, acks } = setup();
    for (const id of ids(0, 150)) acks.add(id);
    await settle();
    expect(ACK_BATCH).toBe(100);
    expect(sent).toEqual([ids(0, 100)]);
    await clock.advance(25);
    expect(sent).toEqual([ids(0, 100), ids(100, 150)]);
    await clock.advance(100);
    expect(sent).toHaveLength(2);
  });

  it('does not acknowledge an id twice in a row, forgets it after 1,000 others, and ignores what is not an id', async () => {
    const { clock, sent, acks } = setup();
    acks.add('m:1');
    acks.add('m:1');
    for (const junk of ['', undefined, null, 42, { id: 'm:9' }, 'm:'.padEnd(201, 'x')]) acks.add(junk);
    await clock.advance(25);
    expect(sent).toEqual([['m:1']]);
    // A replay after the ack (the same event after a reconnect, or on another channel).
    acks.add('m:1');
    await clock.advance(25);
    expect(sent).toHaveLength(1);
    for (const id of ids(2, 1002)) acks.add(id);
    await clock.advance(25);
    const before = sent.length;
    acks.add('m:1');
    await clock.advance(25);
    expect(sent.slice(before)).toEqual([['m:1']]);
  });

  it('keeps ids while it cannot send (at most 1,000, the oldest dropped) and sends them on flush when ready', async () => {
    const { clock, sent, acks, state } = setup();
    state.ready = false;
    for (const id of ids(0, 1200)) acks.add(id);
    await clock.advance(100);
    expect(sent).toEqual([]);
    expect(acks.size).toBe(1000);
    state.ready = true;
    acks.flush();
    await settle();
    expect(sent).toHaveLength(10);
    expect(sent.every((batch) => batch.length === 100)).toBe(true);
    expect(sent.flat()).toEqual(ids(200, 1200));
    expect(acks.size).toBe(0);
  });

  it('keeps the ids of a send lost with the connection, and sends them again once', async () => {
    let fail = true;
    const { clock, sent, acks, state, errors } = setup(() => {
      if (!fail) return Promise.resolve();
      state.ready = false;
      return Promise.reject(new Error('socket has been disconnected'));
    });
    acks.add('m:1');
    await clock.advance(25);
    expect(sent).toEqual([['m:1']]);
    expect(acks.size).toBe(1);
    expect(errors).toEqual([]);
    fail = false;
    state.ready = true;
    acks.flush();
    await settle();
    expect(sent).toEqual([['m:1'], ['m:1']]);
    acks.flush();
    await clock.advance(25);
    expect(sent).toHaveLength(2);
  });

  it('drops the ids the server refused, reports the error, and does not retry them', async () => {
    const refusal = new TetherSocketError('invalid_payload', 'ids must be strings');
    const { clock, sent, acks, errors } = setup(() => Promise.reject(refusal));
    acks.add('m:1');
    acks.add('m:2');
    await clock.advance(25);
    expect(errors).toEqual([refusal]);
    expect(acks.size).toBe(0);
    acks.flush();
    await clock.advance(100);
    expect(sent).toEqual([['m:1', 'm:2']]);
    // Received again later (a replay): tried once more, as a new receipt.
    acks.add('m:1');
    await clock.advance(25);
    expect(sent).toEqual([['m:1', 'm:2'], ['m:1']]);
  });
});

/**
 * A bare Socket.IO server on `/realtime` (no Tether behind it): what the client declares in its
 * handshake, and every `delivery:ack` it sends, per connection.
 */
describe('TetherClient acknowledged delivery (a scripted Socket.IO server)', () => {
  let http: HttpServer;
  let io: IoServer;
  let url: string;
  let onConnection: (socket: ServerSocket, n: number) => void;
  let answer: (ids: string[]) => unknown;
  /** How long the server takes to accept a connection after the first. */
  let reconnectDelayMs = 0;
  const auths: Record<string, unknown>[] = [];
  const received: { connection: number; ids: string[] }[] = [];
  const clients: TetherClient[] = [];

  beforeAll(async () => {
    http = createServer();
    io = new IoServer(http);
    io.of('/realtime').use((_socket, next) => void setTimeout(next, auths.length ? reconnectDelayMs : 0));
    io.of('/realtime').on('connection', (socket) => {
      const n = auths.push(socket.handshake.auth) - 1;
      socket.on('delivery:ack', (data: { ids: string[] }, ack?: (answer: unknown) => void) => {
        received.push({ connection: n, ids: data.ids });
        const reply = answer(data.ids);
        if (reply !== undefined) ack?.(reply);
      });
      onConnection(socket, n);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    auths.length = 0;
    received.length = 0;
    onConnection = () => undefined;
    reconnectDelayMs = 0;
    answer = (ids) => ({ ok: true, acknowledged: ids.length });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    io.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  const tether = (options: Partial<TetherOptions> = {}) => {
    const client = new TetherClient({
      url,
      token: () => 'tok',
      polling: false,
      transports: ['websocket'],
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
      ...options,
    });
    clients.push(client);
    return client;
  };

  it('declares `ack: true` in the handshake, with the deviceId when the app gives one', async () => {
    const calls: number[] = [];
    const withDevice = tether({ deviceId: async () => (calls.push(1), 'dev-1') });
    withDevice.connect();
    await eventually(() => withDevice.state === 'connected');
    const plain = tether();
    plain.connect();
    await eventually(() => plain.state === 'connected');
    const fixed = tether({ deviceId: 'dev-2' });
    fixed.connect();
    await eventually(() => fixed.state === 'connected');
    const failing = tether({ deviceId: () => Promise.reject(new Error('no device yet')) });
    const errors: unknown[] = [];
    failing.on('error', (e) => errors.push(e));
    failing.connect();
    await eventually(() => failing.state === 'connected');
    expect(auths).toEqual([
      { token: 'tok', ack: true, deviceId: 'dev-1' },
      { token: 'tok', ack: true },
      { token: 'tok', ack: true, deviceId: 'dev-2' },
      { token: 'tok', ack: true },
    ]);
    expect(calls).toEqual([1]);
    expect(errors).toEqual([new Error('no device yet')]);
  });

  it('acknowledges every deliveryId once, in one batch, on receipt, even when the handler throws', async () => {
    onConnection = (socket) => {
      socket.emit('message:new', { id: '1' }, { channel: 'user:ann', deliveryId: 'm:1' });
      socket.emit('notification:new', { id: '7' }, { channel: 'user:ann', deliveryId: 'n:7' });
      socket.emit('message:read', { upToSeq: 1 }, { channel: 'user:ann' });
      socket.emit('message:new', { id: '2' }, { channel: 'user:ann', deliveryId: '' });
      // The same event again (a replay): handed over again (no offset), acknowledged once.
      socket.emit('message:new', { id: '1' }, { channel: 'user:ann', deliveryId: 'm:1' });
    };
    const client = tether();
    const errors: unknown[] = [];
    const metas: EventMeta[] = [];
    client.on('error', (e) => errors.push(e));
    client.onEvent('message:new', (_payload, meta) => {
      metas.push(meta);
      throw new Error('the app failed');
    });
    client.connect();
    await eventually(() => received.length === 1);
    await wait(100);
    expect(received).toEqual([{ connection: 0, ids: ['m:1', 'n:7'] }]);
    expect(metas).toEqual([
      { channel: 'user:ann', deliveryId: 'm:1' },
      { channel: 'user:ann', deliveryId: '' },
      { channel: 'user:ann', deliveryId: 'm:1' },
    ]);
    expect(errors).toEqual([new Error('the app failed'), new Error('the app failed'), new Error('the app failed')]);
  });

  it('keeps the ids received just before a disconnect and sends them on the next connection', async () => {
    onConnection = (socket, n) => {
      if (n > 0) return;
      socket.emit('message:new', { id: '3' }, { channel: 'user:ann', deliveryId: 'm:3' });
      // Gone before the 25 ms batch is due.
      socket.disconnect(true);
    };
    // Still down when the batch is due: kept, then sent as the next connection opens.
    reconnectDelayMs = 100;
    const client = tether();
    client.connect();
    await eventually(() => received.length === 1);
    expect(auths).toHaveLength(2);
    expect(received).toEqual([{ connection: 1, ids: ['m:3'] }]);
  });

  it('reports a refused ack on `error` and does not send those ids again', async () => {
    answer = () => ({ error: { code: 'invalid_payload', message: 'ids: at most 500' } });
    onConnection = (socket, n) => {
      if (n === 0) socket.emit('message:new', { id: '4' }, { channel: 'user:ann', deliveryId: 'm:4' });
    };
    const client = tether();
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    client.connect();
    await eventually(() => errors.length === 1);
    expect(errors[0]).toBeInstanceOf(TetherSocketError);
    expect(errors[0]).toMatchObject({ code: 'invalid_payload', message: 'ids: at most 500' });
    // A reconnect does not bring them back.
    io.of('/realtime').disconnectSockets(true);
    await eventually(() => auths.length === 2 && client.state === 'connected');
    await wait(100);
    expect(received).toEqual([{ connection: 0, ids: ['m:4'] }]);
  });

  it('drops ids a server that does not answer `delivery:ack` leaves unanswered (an older server), reporting the timeout', async () => {
    answer = () => undefined;
    onConnection = (socket, n) => {
      if (n === 0) socket.emit('message:new', { id: '5' }, { channel: 'user:ann', deliveryId: 'm:5' });
    };
    const client = tether({ ackTimeoutMs: 200 });
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    client.connect();
    await eventually(() => errors.length === 1);
    io.of('/realtime').disconnectSockets(true);
    await eventually(() => auths.length === 2 && client.state === 'connected');
    await wait(100);
    expect(received).toEqual([{ connection: 0, ids: ['m:5'] }]);
  });
});

describe('Poller acknowledged delivery (a scripted HTTP server)', () => {
  it('acknowledges polled events that carry a deliveryId with one POST /deliveries/ack, and passes it in meta', async () => {
    const requests: { method: string; url: string; body: unknown }[] = [];
    const page = {
      channel: 'conversation:1',
      events: [
        { event: 'message:new', data: { id: 'a' }, offset: 'e.2-0', deliveryId: 'm:a' },
        { event: 'message:read', data: { upToSeq: 1 }, offset: 'e.3-0' },
        { event: 'message:new', data: { id: 'b' }, offset: 'e.4-0', deliveryId: 'm:b' },
      ],
      recovered: true,
      offset: 'e.4-0',
      hasMore: false,
    };
    const fetchImpl: FetchLike = async (input, init = {}) => {
      const url = input.slice('http://tether.test/api/mobile/v1'.length);
      requests.push({ method: init.method ?? 'GET', url, body: init.body ? JSON.parse(init.body as string) : undefined });
      const body = url.startsWith('/realtime/events')
        ? { ...page, events: url.includes('since=e.1-0') ? page.events : [] }
        : { acknowledged: 2 };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
    const http = new HttpClient('http://tether.test', new TokenSource(() => 'tok'), fetchImpl);
    const storage = memoryStorage();
    await storage.setItem('tether:offsets', JSON.stringify({ 'conversation:1': 'e.1-0' }));
    const down: SocketLink = {
      connected: false,
      emitWithAck: () => Promise.reject(new Error('not connected')),
      onReachable: () => () => undefined,
    };
    const errors: unknown[] = [];
    const subs = new Subscriptions(down, new JsonStore(storage), manualClock(), 1000, (e) => errors.push(e));
    subs.add('conversation:1');
    const delivered: [string, EventMeta][] = [];
    const poller = new Poller(
      http,
      subs,
      { now: Date.now, sleep: (ms) => wait(Math.min(ms, 25)).then(() => undefined) },
      60_000,
      (event, _payload, meta) => void delivered.push([event, meta]),
      (e) => errors.push(e),
    );
    try {
      poller.start();
      await eventually(() => requests.some((r) => r.method === 'POST'));
      await wait(100);
    } finally {
      poller.stop();
    }
    expect(delivered).toEqual([
      ['message:new', { channel: 'conversation:1', offset: 'e.2-0', deliveryId: 'm:a' }],
      ['message:read', { channel: 'conversation:1', offset: 'e.3-0' }],
      ['message:new', { channel: 'conversation:1', offset: 'e.4-0', deliveryId: 'm:b' }],
    ]);
    expect(requests.filter((r) => r.method === 'POST')).toEqual([
      { method: 'POST', url: '/deliveries/ack', body: { ids: ['m:a', 'm:b'] } },
    ]);
  });
});

// Against Tether itself: the recipient's acknowledgement (`delivery:ack` on the socket, POST
// /deliveries/ack while polling) moves the delivered pointer the sender sees.
describe('acknowledged delivery (real server)', () => {
  let t: TestApp;
  const tid = `sdkack${Date.now().toString(36)}`;
  const clients: TetherClient[] = [];

  beforeAll(async () => {
    // Loaded here: the parts above need none of the server's code.
    const { startTestApp } = await import('../../test/support/test-app');
    t = await startTestApp();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await t?.close();
  });

  /** Bob writes to `alice` in a new direct conversation; resolves with what the sender sees. */
  const conversation = async (alice: string) => {
    const bob = messagingClient(t.url, await t.token({ sub: 'bob', tid }));
    const id = (await bob.post('/conversations', { type: 'direct', participantIds: [alice] }).expect(201)).body.id as string;
    return {
      id,
      send: async (content: string) => (await bob.post(`/conversations/${id}/messages`, { content })).body as { id: string; seq: number },
      delivered: async () => (await bob.get(`/conversations/${id}/messages`)).body.deliveredUpToSeq as number,
    };
  };

  it('a message received on the socket is acknowledged (with the deviceId): the sender sees it delivered', async () => {
    const alice = new TetherClient({ url: t.url, token: () => t.token({ sub: 'alice', tid }), polling: false, deviceId: 'dev-alice' });
    clients.push(alice);
    const metas: EventMeta[] = [];
    alice.onEvent('message:new', (_payload, meta) => metas.push(meta));
    alice.connect();
    await eventually(() => alice.state === 'connected');
    const chat = await conversation('alice');
    expect(await chat.delivered()).toBe(0);
    const message = await chat.send('hi alice');
    await eventually(() => metas.length > 0);
    expect(metas[0].deliveryId).toBe(`m:${message.id}`);
    await eventually(chat.delivered, { until: (seq) => seq === message.seq, what: 'delivered' });
  });

  it('a polled message is acknowledged over HTTP: the sender sees it delivered', async () => {
    const chat = await conversation('carol');
    const down: SocketLink = { connected: false, emitWithAck: () => Promise.reject(new Error('down')), onReachable: () => () => undefined };
    const errors: unknown[] = [];
    const subs = new Subscriptions(down, new JsonStore(memoryStorage()), realClock, 1000, (e) => errors.push(e));
    const sub = subs.add(`conversation:${chat.id}`);
    const http = new HttpClient(t.url, new TokenSource(() => t.token({ sub: 'carol', tid })), (input, init) => fetch(input, init));
    const got: EventMeta[] = [];
    const poller = new Poller(
      http,
      subs,
      realClock,
      200,
      (event, _p, meta) => event === 'message:new' && got.push(meta),
      (e) => errors.push(e),
    );
    try {
      poller.start();
      await eventually(() => sub.state === 'subscribed');
      const message = await chat.send('hi carol');
      await eventually(() => got.length > 0);
      expect(got[0].deliveryId).toBe(`m:${message.id}`);
      await eventually(chat.delivered, { until: (seq) => seq === message.seq, what: 'delivered' });
      expect(errors).toEqual([]);
    } finally {
      poller.stop();
    }
  });
});
