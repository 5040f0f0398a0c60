import { once } from 'node:events';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { eventually, sleep } from '../tools/scratch';
import { messagingClient } from './support/messaging';
import { openPlain, PlainClient } from './support/plain-ws';
import { connect, next, request as ask, ClientSocket } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

let tenantSeq = 0;
const freshTenant = () => `ce${Date.now().toString(36)}${tenantSeq++}`;

interface HostCall {
  body: { event: string; data: any; userId: string; tenantId: string; socketId: string };
  authorization?: string;
}

/**
 * The host backend's client-event endpoint, as the guides' backends would answer: message:send
 * acks the stored message, message:received (the bookings app, no ack) is taken with 204, and
 * booking:<kind> answers by kind.
 */
async function startHost(): Promise<{ url: string; calls: HostCall[]; close: () => Promise<void> }> {
  const calls: HostCall[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const body = JSON.parse(raw) as HostCall['body'];
      calls.push({ body, authorization: req.headers.authorization });
      const json = (status: number, value?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(value === undefined ? undefined : JSON.stringify(value));
      };
      const kind = body.event.startsWith('booking:') ? body.event.slice('booking:'.length) : body.event;
      if (kind === 'message:send') json(200, { result: { id: 'm1', text: body.data.text, sender: body.userId } });
      else if (kind === 'message:received') json(204);
      else if (kind === 'refuse') json(200, { error: { code: 'booking_closed', message: 'Bookings are closed' } });
      else if (kind === 'refuse_badly') json(422, { error: { code: 'Not A Code!', message: 42 } });
      else if (kind === 'null') json(200, { result: null });
      else if (kind === 'list') json(200, { result: [1, 2] });
      else if (kind === 'neither') json(200, { ok: true });
      else if (kind === 'html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      else if (kind === 'slow') setTimeout(() => json(200, { result: 'late' }), 1000);
      else json(500, { message: 'boom' });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tether/events`,
    calls,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe('client events to the host backend (issue 13 item 2)', () => {
  let t: TestApp;
  let host: Awaited<ReturnType<typeof startHost>>;
  const sockets: ClientSocket[] = [];
  const plain: PlainClient[] = [];
  const open = async (sub: string, tid: string) => {
    const s = await connect(t.url, await t.token({ sub, tid }));
    sockets.push(s);
    return s;
  };
  const callsOf = (event: string) => host.calls.filter((c) => c.body.event === event);

  beforeAll(async () => {
    host = await startHost();
    t = await startTestApp({
      CLIENT_EVENT_PROXY_URL: host.url,
      CLIENT_EVENT_PROXY_EVENTS: 'message:send, message:received,booking:*',
      CLIENT_EVENT_PROXY_TIMEOUT_MS: '300',
      SUBSCRIBE_PROXY_SECRET: 'proxy-secret',
      HOST_CHANNELS: 'activity:public,booking',
      REALTIME_EVENTS_PER_SECOND: '5',
    });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
    for (const c of plain.splice(0)) c.ws.close();
  });
  afterAll(async () => {
    await t.close();
    await host.close();
  });

  it("answers the activities app's emitWithAck('message:send', {text}) with the host's result", async () => {
    const tid = freshTenant();
    const socket = await open('runner', tid);
    const ack = await ask(socket, 'message:send', { text: 'Hello' });
    expect(ack).toEqual({ id: 'm1', text: 'Hello', sender: 'runner' });
    const [call] = callsOf('message:send').filter((c) => c.body.tenantId === tid);
    expect(call).toEqual({
      body: { event: 'message:send', data: { text: 'Hello' }, userId: 'runner', tenantId: tid, socketId: socket.id },
      authorization: 'Bearer proxy-secret',
    });
  });

  it("keeps Tether's own message:send (a payload with a conversationId) in messaging, never proxied", async () => {
    const tid = freshTenant();
    const ann = messagingClient(t.url, await t.token({ sub: 'ann', tid }));
    const created = await ann.post('/conversations', { type: 'direct', participantIds: ['bob'] });
    expect([200, 201]).toContain(created.status);
    const socket = await open('ann', tid);
    const before = host.calls.length;
    const ack = await ask(socket, 'message:send', { conversationId: created.body.id, clientMessageId: 'c-1', content: 'Hi Bob' });
    expect(ack).toMatchObject({ message: { content: 'Hi Bob' }, duplicate: false });
    // A malformed Tether payload is messaging's answer, not the host's.
    const bad = await ask(socket, 'message:send', { conversationId: created.body.id });
    expect(bad).toMatchObject({ error: { code: 'invalid_payload' } });
    expect(host.calls.length).toBe(before);
  });

  it("forwards the bookings app's message:received {bookingId, content}, emitted without an ack", async () => {
    const tid = freshTenant();
    const socket = await open('guest', tid);
    socket.emit('message:received', { bookingId: '123', content: 'Hello' });
    await eventually(() => callsOf('message:received').some((c) => c.body.tenantId === tid));
    expect(callsOf('message:received').find((c) => c.body.tenantId === tid)!.body).toEqual({
      event: 'message:received',
      data: { bookingId: '123', content: 'Hello' },
      userId: 'guest',
      tenantId: tid,
      socketId: socket.id,
    });
    // With an ack, an empty 2xx answers {ok: true}; an event without a payload sends data: null.
    expect(await ask(socket, 'message:received', { bookingId: '123', content: 'again' })).toEqual({ ok: true });
    expect(await socket.timeout(5000).emitWithAck('booking:list')).toEqual([1, 2]);
    expect(callsOf('booking:list').at(-1)!.body.data).toBeNull();
  });

  it("turns the host's errors, failures and timeouts into clear error acks, and stays connected", async () => {
    const socket = await open('guest', freshTenant());
    expect(await ask(socket, 'booking:refuse', { bookingId: '9' })).toEqual({
      error: { code: 'booking_closed', message: 'Bookings are closed' },
    });
    expect(await ask(socket, 'booking:refuse_badly', {})).toEqual({
      error: { code: 'host_error', message: "The app's backend refused the event" },
    });
    expect(await ask(socket, 'booking:null', {})).toEqual({ ok: true });
    const unavailable = { error: { code: 'proxy_unavailable', message: expect.stringContaining('did not answer') } };
    expect(await ask(socket, 'booking:slow', {})).toEqual(unavailable);
    await sleep(1000); // the bucket refills: 5 events per second, bursts of 10
    expect(await ask(socket, 'booking:html', {})).toEqual(unavailable);
    expect(await ask(socket, 'booking:neither', {})).toEqual(unavailable);
    expect(await ask(socket, 'booking:crash', {})).toEqual(unavailable);
    expect((await ask(socket, 'booking:slow', {})).error.message).toMatch(/no answer within 300 ms/);
    // Names that match no pattern are still unknown, and never reach the host.
    const before = host.calls.length;
    expect(await ask(socket, 'launch:missiles', {})).toMatchObject({ error: { code: 'unknown_event' } });
    expect(host.calls.length).toBe(before);
    expect(socket.connected).toBe(true);
    // Counted for operators.
    const metrics = (await request(t.url).get('/metrics')).text;
    for (const outcome of ['result', 'error', 'unavailable'])
      expect(metrics).toMatch(new RegExp(`tether_realtime_client_event_proxy_total\\{outcome="${outcome}"\\} [1-9]`));
  });

  it('applies the per-socket rate limit before anything reaches the host', async () => {
    const tid = freshTenant();
    const socket = await open('spammer', tid);
    const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(socket, 'booking:list', { i })));
    const limited = acks.filter((a) => a.error?.code === 'rate_limited').length;
    expect(limited).toBeGreaterThanOrEqual(8);
    const forwarded = callsOf('booking:list').filter((c) => c.body.tenantId === tid).length;
    expect(forwarded).toBe(20 - limited);
  });

  it('answers plain WebSocket clients the same way, in reply frames', async () => {
    const tid = freshTenant();
    const c = await openPlain(t.url, { token: await t.token({ sub: 'walker', tid }) });
    plain.push(c);
    await c.next((f) => f.type === 'connected');
    expect(await c.request({ type: 'message:send', text: 'From the browser' })).toMatchObject({
      type: 'reply',
      event: 'message:send',
      data: { id: 'm1', text: 'From the browser', sender: 'walker' },
    });
    expect((await c.request({ type: 'booking:refuse', data: { bookingId: '9' } })).data).toEqual({
      error: { code: 'booking_closed', message: 'Bookings are closed' },
    });
    expect(callsOf('booking:refuse').at(-1)!.body).toMatchObject({ data: { bookingId: '9' }, userId: 'walker', tenantId: tid });
  });

  describe('typing with the ids apps send', () => {
    it("relays the activities app's typing:start {chatId} on the activity channel the socket is in", async () => {
      const tid = freshTenant();
      const typist = await open('ann', tid);
      const reader = await open('bob', tid);
      for (const s of [typist, reader]) await ask(s, 'room:join', { roomId: 'activity_123' });
      const heard = next<any>(reader, 'typing:start');
      expect(await ask(typist, 'typing:start', { chatId: '123' })).toEqual({ ok: true });
      const [payload, meta] = await heard;
      expect(payload).toEqual({ channel: 'activity:123', userId: 'ann' });
      expect(meta).toEqual({ channel: 'activity:123' });
      const stopped = next<any>(reader, 'typing:stop');
      expect(await ask(typist, 'typing:stop', { chatId: 123 })).toEqual({ ok: true });
      expect((await stopped)[0]).toEqual({ channel: 'activity:123', userId: 'ann' });
    });

    it('maps conversationId to conversation:<id>, prefers a conversation for chatId, and refuses what the socket is not in', async () => {
      const tid = freshTenant();
      const ann = messagingClient(t.url, await t.token({ sub: 'ann', tid }));
      const id = (await ann.post('/conversations', { type: 'direct', participantIds: ['bob'] })).body.id as string;
      const typist = await open('ann', tid);
      const reader = await open('bob', tid);
      for (const s of [typist, reader]) expect((await ask(s, 'subscribe', { channel: `conversation:${id}` })).subscribed).toHaveLength(1);
      const heard = next<any>(reader, 'typing:start');
      expect(await ask(typist, 'typing:start', { conversationId: id })).toEqual({ ok: true });
      expect((await heard)[0]).toEqual({ channel: `conversation:${id}`, userId: 'ann' });
      await sleep(1000); // let the rate limit's bucket refill
      const stopped = next<any>(reader, 'typing:stop');
      expect(await ask(typist, 'typing:stop', { chatId: id })).toEqual({ ok: true });
      expect((await stopped)[0]).toEqual({ channel: `conversation:${id}`, userId: 'ann' });
      expect(await ask(typist, 'typing:start', { conversationId: 'not-mine' })).toEqual({
        error: { code: 'not_subscribed', message: 'Subscribe to conversation:not-mine first' },
      });
      expect(await ask(typist, 'typing:start', { chatId: '999' })).toEqual({
        error: { code: 'not_subscribed', message: 'Subscribe to conversation:999 first' },
      });
      for (const bad of [{}, { chatId: 'a b' }, { chatId: -1 }, { channel: 'Not A Channel' }, 'x']) {
        await sleep(250);
        expect(await ask(typist, 'typing:start', bad)).toMatchObject({ error: { code: 'invalid_payload' } });
      }
    });
  });

  it('without a client-event proxy, message:send {text} is messaging’s invalid_payload and other names unknown_event', async () => {
    const bare = await startTestApp({});
    try {
      const socket = await connect(bare.url, await bare.token({ sub: 'n', tid: freshTenant() }));
      expect(await ask(socket, 'message:send', { text: 'Hello' })).toMatchObject({ error: { code: 'invalid_payload' } });
      expect(await ask(socket, 'message:received', { bookingId: '1', content: 'x' })).toMatchObject({ error: { code: 'unknown_event' } });
      socket.close();
    } finally {
      await bare.close();
    }
  });
});
