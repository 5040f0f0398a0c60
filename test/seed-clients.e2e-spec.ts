/**
 * Each seed's client, written the way its integration guide writes it, against two Tether pods
 * (two processes, one Redis): the client on pod B, the host backend (played by the server API)
 * calling pod A. What each seed needs beyond that is tested in its own spec (push-expo,
 * host-channels, plain-websocket).
 */
import { SignJWT } from 'jose';
import { io, Socket } from 'socket.io-client';
import request from 'supertest';
import { signDevToken } from '../src/core/auth/dev-token';
import { freePort, NodeProcess, spawnApp, waitReady } from '../tools/scratch';
import { openPlain, PlainClient } from './support/plain-ws';
import { next } from './support/sockets';

const SECRET = process.env.MOBILE_JWT_SECRET!;
const tid = `seeds${Date.now().toString(36)}`;
const accessToken = (sub: string, roles = ['MEMBER']) => signDevToken(SECRET, { sub, tid, roles });
/** What a host backend hands its app for one of its own channels (booking:, activity:, venue:). */
const channelToken = (sub: string, channel: string) =>
  new SignJWT({ sub, tid, channel }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));

describe('seed clients against two pods', () => {
  let a: string; // the pod the host backend calls
  let b: string; // the pod the apps are connected to
  const procs: NodeProcess[] = [];
  const sockets: Socket[] = [];
  const plains: PlainClient[] = [];

  /** The host backend: a SERVICE token on pod A. */
  const backend = async (method: string, path: string, body?: object) => {
    const auth = `Bearer ${await accessToken('host-backend', ['SERVICE'])}`;
    const req = request(a)[method.toLowerCase() as 'get'](path).set('Authorization', auth);
    const res = await (body ? req.send(body) : req);
    return { status: res.status, body: res.body as any };
  };
  const socketIo = (token: string) => {
    const s = io(`${b}/realtime`, { transports: ['websocket', 'polling'], auth: { token }, reconnection: false });
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    const urls = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      procs.push(spawnApp({ LOG_LEVEL: 'silent', PORT: String(port) }));
      urls.push(`http://127.0.0.1:${port}`);
    }
    [a, b] = urls;
    await Promise.all(urls.map((u) => waitReady(`${u}/health/ready`)));
  }, 60000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const p of plains) p.ws.terminate();
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
  }, 30000);

  it('seed 000 (Socket.IO, /realtime): subscribe without an ack, then an announcement published on the other pod', async () => {
    const socket = socketIo(await accessToken('member-000'));
    const session = next<any>(socket, 'session');
    socket.on('connect', () => socket.emit('subscribe', { channels: ['service:counts', 'announcements'] }));
    await session;
    // The subscribe has no ack to wait for: publish until the first one lands.
    const received = next<any>(socket, 'announcement:new', 8000);
    const timer = setInterval(
      () =>
        void backend('POST', '/api/mobile/v1/admin/broadcast', {
          channel: 'announcements',
          event: 'announcement:new',
          data: { title: 'Welcome' },
        }),
      200,
    );
    try {
      const [payload, meta] = await received;
      expect(payload).toEqual({ title: 'Welcome' });
      expect(meta).toMatchObject({ channel: 'announcements', offset: expect.any(String) });
    } finally {
      clearInterval(timer);
    }
  });

  it("seed 001 (rooms with acks): room:join {roomId: 'activity_42'} answered {success: true}, then activity:updated; a room it may not join is Unauthorized", async () => {
    const socket = socketIo(await accessToken('member-001'));
    await next(socket, 'session');
    const joined = await socket
      .timeout(5000)
      .emitWithAck('room:join', { roomId: 'activity_42', token: await channelToken('member-001', 'activity:42') });
    expect(joined).toMatchObject({ success: true });
    const refused = await socket.timeout(5000).emitWithAck('room:join', { roomId: 'activity_43' });
    expect(refused).toMatchObject({ error: 'Unauthorized' });
    const updated = next<any>(socket, 'activity:updated');
    expect(
      (
        await backend('POST', '/api/mobile/v1/admin/broadcast', {
          channel: 'activity:42',
          event: 'activity:updated',
          data: { id: '42', title: 'Hike' },
        })
      ).status,
    ).toBe(202);
    expect((await updated)[0]).toEqual({ id: '42', title: 'Hike' });
    // Its typing call names the chat by id (issue 13): typing in the activity it joined is
    // acknowledged, a chat it is not in gets an ack with the error.
    expect(await socket.timeout(5000).emitWithAck('typing:start', { chatId: '42' })).toEqual({ ok: true });
    expect(await socket.timeout(5000).emitWithAck('typing:start', { chatId: '123' })).toMatchObject({ error: { code: 'not_subscribed' } });
  });

  it('seed 002 (plain WebSocket at /messages/subscribe?token=, REST at /api/conversations): message.new for a message sent through pod A', async () => {
    const client = await openPlain(b, { token: await accessToken('reader-002'), path: '/messages/subscribe' });
    plains.push(client);
    expect(await client.next((f) => f.type === 'connected')).toMatchObject({ userId: 'reader-002' });
    const senderAuth = `Bearer ${await accessToken('writer-002')}`;
    const created = await request(a)
      .post('/api/conversations')
      .set('Authorization', senderAuth)
      .send({ type: 'direct', participantIds: ['reader-002'] });
    const conversation = created.body as { id: string };
    const sent = await request(a)
      .post(`/api/conversations/${conversation.id}/messages`)
      .set('Authorization', senderAuth)
      .send({ content: 'hello from pod A' });
    expect(sent.status).toBe(201);
    const frame = await client.next((f) => f.type === 'message.new');
    expect(frame.data).toMatchObject({ conversationId: conversation.id, content: 'hello from pod A', senderId: 'writer-002' });
  });

  it("seed 003 (Socket.IO with handshake.auth.token): booking:status_update sent to the user's own channel, and the Expo push-token route", async () => {
    const socket = socketIo(await accessToken('customer-003'));
    await next(socket, 'session');
    const update = next<any>(socket, 'booking:status_update');
    const data = { bookingId: 'b-1', status: 'confirmed', updatedAt: new Date().toISOString(), message: 'Booking status updated' };
    expect(
      (await backend('POST', '/api/mobile/v1/admin/broadcast', { channel: 'user:customer-003', event: 'booking:status_update', data }))
        .status,
    ).toBe(202);
    expect((await update)[0]).toEqual(data);
    const registered = await fetch(`${a}/api/v1/users/push-token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await accessToken('customer-003')}` },
      body: JSON.stringify({ push_token: 'ExponentPushToken[seed003seed003seed003]' }),
    });
    expect(registered.status).toBe(200);
    expect(await registered.json()).toMatchObject({ provider: 'expo', active: true });
  });

  it('seed 004 (plain WebSocket at /ws, POST /api/websocket, polling with since): venue channel, notify, status', async () => {
    // The venues app's sendNotification object, with its own id.
    const venueNote = {
      id: 'a3f1c2e4-venue-note',
      type: 'promotion',
      title: 'Happy hour',
      message: 'Half price until 8',
      data: { venueId: '7', tiers: [1, 2] },
      createdAt: '2026-11-30T18:00:00.000Z',
    };
    const since = new Date(Date.now() - 1000).toISOString();
    const client = await openPlain(b, { token: await accessToken('fan-004') });
    plains.push(client);
    const venueToken = await channelToken('fan-004', 'venue:7');
    const ack = await client.request({ type: 'subscribe', channels: ['venue:7'], tokens: { 'venue:7': venueToken } });
    expect(ack.data.subscribed).toEqual(['venue:7']);
    const broadcast = await backend('POST', '/api/websocket', {
      action: 'broadcast',
      channel: 'venue:7',
      event: 'venue:update',
      data: { crowd: 'busy' },
    });
    expect(broadcast).toMatchObject({ status: 202, body: { ok: true, channel: 'venue:7', offset: expect.any(String) } });
    expect(await client.next((f) => f.type === 'event' && f.channel === 'venue:7')).toMatchObject({
      event: 'venue:update',
      data: { crowd: 'busy' },
    });
    const notified = await backend('POST', '/api/websocket', {
      action: 'notify',
      userId: 'fan-004',
      data: venueNote,
    });
    expect(notified).toMatchObject({ status: 202, body: { ok: true, notificationId: expect.any(String) } });
    const note = await client.next((f) => f.type === 'event' && f.event === 'notification:new');
    // Its notification object as it was sent (its own id, type, message, nested data, createdAt),
    // with Tether's fields beside it: its id as notificationId, body, category.
    expect(note.data).toEqual({
      ...venueNote,
      notificationId: notified.body.notificationId,
      body: 'Half price until 8',
      category: 'promotion',
    });
    expect((await backend('POST', '/api/websocket', { action: 'shout', data: {} })).status).toBe(400);
    const status = await backend('GET', '/api/websocket');
    expect(status.body).toMatchObject({ status: 'running', connections: expect.any(Number), pod: { sockets: expect.any(Number) } });
    // Other suites' pods share this run's Redis and may still be within their heartbeat timeout.
    expect(status.body.cluster.pods).toBeGreaterThanOrEqual(2);
    // Its polling fallback: the same events since a timestamp.
    const polled = await fetch(`${a}/api/mobile/v1/realtime/events?channel=venue:7&since=${encodeURIComponent(since)}`, {
      headers: { authorization: `Bearer ${await accessToken('fan-004')}`, 'x-channel-token': venueToken },
    }).then((r) => r.json() as Promise<any>);
    expect(polled).toMatchObject({ recovered: true, events: [{ event: 'venue:update', data: { crowd: 'busy' } }] });
  });
});
