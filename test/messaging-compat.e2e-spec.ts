import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { eventually, sleep } from '../tools/scratch';
import { ERROR_SHAPE } from './support/error-shape';
import { messagingClient } from './support/messaging';
import { openPlain, PlainClient } from './support/plain-ws';
import { ClientSocket, connect, record, request as ask } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

const run = Date.now().toString(36);

/** The messaging app as its guide calls Tether: `/api/conversations...` and `ws://host/messages/subscribe?token=`. */
describe("the messaging app's wire, receipts and typing in user rooms", () => {
  let t: TestApp;
  const tenant = `mcompat-${run}`;
  const open: (PlainClient | ClientSocket)[] = [];
  const tokenOf = (user: string) => t.token({ sub: user, tid: tenant });
  /** The messaging app's REST client: its own paths, outside /api/mobile/v1. */
  const app = async (user: string) => {
    const auth = `Bearer ${await tokenOf(user)}`;
    return {
      get: (path: string) => request(t.url).get(`/api${path}`).set('Authorization', auth),
      post: (path: string, body?: object) => request(t.url).post(`/api${path}`).set('Authorization', auth).send(body),
    };
  };
  const plain = async (user: string, path = '/messages/subscribe') => {
    const c = await openPlain(t.url, { token: await tokenOf(user), path });
    open.push(c);
    await c.next((f) => f.type === 'connected');
    return c;
  };
  const socketOf = async (user: string) => {
    const s = await connect(t.url, await tokenOf(user));
    open.push(s);
    return s;
  };
  const directBetween = async (a: string, b: string) =>
    (await (await app(a)).post('/conversations', { type: 'direct', participantIds: [b] }).expect(201)).body.id as string;

  beforeAll(async () => {
    t = await startTestApp({ REALTIME_PRESENCE_OFFLINE_DELAY_MS: '0', REALTIME_EVENTS_PER_SECOND: '200' });
  });
  afterAll(async () => {
    for (const c of open) {
      if ('ws' in c) c.ws.terminate();
      else c.close();
    }
    await t.close();
  });

  it('serves /api/conversations, its messages, status and typing with the same auth, validation and errors', async () => {
    const [a, b, stranger] = [await app('wa'), await app('wb'), await app('wz')];
    const noAuth = await request(t.url).get('/api/conversations').expect(401);
    expect(noAuth.body).toMatchObject({ ...ERROR_SHAPE, code: 'token_missing' });
    const bad = await a.post('/conversations', { type: 'direct' }).expect(400);
    expect(bad.body).toMatchObject({ ...ERROR_SHAPE, code: 'validation_failed' });

    const id = (await a.post('/conversations', { type: 'direct', participantIds: ['wb'] }).expect(201)).body.id;
    expect((await b.post('/conversations', { type: 'direct', participantIds: ['wa'] }).expect(200)).body.id).toBe(id);
    const sent = (await a.post(`/conversations/${id}/messages`, { content: 'hello', clientMessageId: 'c-1' }).expect(201)).body;
    expect(sent).toMatchObject({ conversationId: id, seq: 1, senderId: 'wa', content: 'hello' });
    expect((await a.post(`/conversations/${id}/messages`, { content: 'hello', clientMessageId: 'c-1' }).expect(200)).body.id).toBe(sent.id);
    await a.post(`/conversations/${id}/messages`, { content: '' }).expect(400);

    expect((await b.get(`/conversations/${id}/messages`).expect(200)).body).toMatchObject({ messages: [sent], lastSeq: 1 });
    const list = (await b.get('/conversations').expect(200)).body;
    expect(list.items.map((c: { id: string; unreadCount: number }) => [c.id, c.unreadCount])).toEqual([[id, 1]]);
    expect((await b.post(`/conversations/${id}/messages/status`, { status: 'read', upToSeq: 1 }).expect(200)).body).toEqual({
      conversationId: id,
      lastDeliveredSeq: 1,
      lastReadSeq: 1,
      unreadCount: 0,
    });
    expect((await b.post(`/conversations/${id}/typing`, { isTyping: true }).expect(200)).body).toEqual({ ok: true });

    // The same data as Tether's own routes, and the same 404 for a non-participant.
    const own = await messagingClient(t.url, await tokenOf('wb'))
      .get('/conversations')
      .expect(200);
    expect(own.body).toEqual((await b.get('/conversations').expect(200)).body);
    for (const res of [
      await stranger.get(`/conversations/${id}/messages`),
      await stranger.post(`/conversations/${id}/messages`, { content: 'x' }),
      await stranger.post(`/conversations/${id}/messages/status`, { status: 'read', upToSeq: 1 }),
      await stranger.post(`/conversations/${id}/typing`, {}),
    ])
      expect([res.status, res.body.code]).toEqual([404, 'conversation_not_found']);

    const docs = (await request(t.url).get('/docs-json').expect(200)).body;
    expect(Object.keys(docs.paths)).toEqual(
      expect.arrayContaining([
        '/api/conversations',
        '/api/conversations/{id}/messages',
        '/api/conversations/{id}/messages/status',
        '/api/conversations/{id}/typing',
      ]),
    );
  });

  it('sends the messaging app its dotted event names on /messages/subscribe, and keeps /ws frames as they were', async () => {
    const id = await directBetween('pa', 'pb');
    const list = await plain('pb'); // the conversation list: user room only
    const chat = await plain('pb'); // the conversation open
    const venues = await plain('pb', '/ws');
    expect((await chat.request({ type: 'subscribe', channels: [`conversation:${id}`] })).data.subscribed).toEqual([`conversation:${id}`]);
    const sender = await plain('pa');
    const a = await app('pa');

    const message = (await a.post(`/conversations/${id}/messages`, { content: 'dotted' }).expect(201)).body;
    expect(await list.next((f) => f.type === 'message.new')).toEqual({ type: 'message.new', channel: 'user:pb', data: message });
    expect(await chat.next((f) => f.type === 'message.new')).toEqual({
      type: 'message.new',
      channel: `conversation:${id}`,
      data: message,
      offset: expect.any(String),
    });
    expect(await venues.next((f) => f.type === 'event' && f.event === 'message:new')).toMatchObject({ channel: 'user:pb', data: message });

    // Typing over REST, and the app's own `typing.start` frame (inbound names are as they were).
    await a.post(`/conversations/${id}/typing`, { isTyping: true }).expect(200);
    const typing = { channel: `conversation:${id}`, userId: 'pa' };
    expect(await list.next((f) => f.type === 'typing.start')).toEqual({ type: 'typing.start', channel: 'user:pb', data: typing });
    expect(await chat.next((f) => f.type === 'typing.start')).toMatchObject({ channel: `conversation:${id}`, data: typing });
    expect((await chat.request({ type: 'typing.start', conversationId: id })).data).toEqual({ ok: true });
    expect(await sender.next((f) => f.type === 'typing.start')).toEqual({
      type: 'typing.start',
      channel: 'user:pa',
      data: { channel: `conversation:${id}`, userId: 'pb' },
    });
    await a.post(`/conversations/${id}/typing`, { isTyping: false }).expect(200);
    expect(await list.next((f) => f.type === 'typing.stop')).toMatchObject({ data: typing });

    // Receipts with the message id, in the sender's conversation list.
    await (await app('pb')).post(`/conversations/${id}/messages/status`, { status: 'delivered', messageId: message.id }).expect(200);
    await (await app('pb')).post(`/conversations/${id}/messages/status`, { status: 'read', messageIds: [message.id] }).expect(200);
    const receipt = { conversationId: id, userId: 'pb', upToSeq: 1, messageId: message.id, messageIds: [message.id] };
    expect(await sender.next((f) => f.type === 'message.delivered')).toEqual({
      type: 'message.delivered',
      channel: 'user:pa',
      data: receipt,
    });
    expect(await sender.next((f) => f.type === 'message.read')).toEqual({ type: 'message.read', channel: 'user:pa', data: receipt });

    // Presence, as presence.update.
    expect((await list.request({ type: 'presence:follow', userIds: ['pc'] })).data.following).toBe(1);
    const pc = await plain('pc');
    expect(await list.next((f) => f.type === 'presence.update')).toMatchObject({ data: { userId: 'pc', status: 'online' } });
    pc.ws.close();
    expect(await list.next((f) => f.type === 'presence.update' && f.data.status === 'offline')).toMatchObject({ data: { userId: 'pc' } });

    // Events the app does not name keep Tether's frame on its path too; /ws never got a dotted frame.
    await request(t.url)
      .post('/api/mobile/v1/admin/broadcast')
      .set('Authorization', `Bearer ${await t.token({ sub: 'backend', tid: tenant, roles: ['SERVICE'] })}`)
      .send({ channel: 'user:pb', event: 'booking:status_update', data: { n: 1 } })
      .expect(202);
    expect(await list.next((f) => f.type === 'event')).toMatchObject({ event: 'booking:status_update', data: { n: 1 } });
    expect(venues.frames.filter((f) => f.type !== 'event' && f.type !== 'connected' && f.type !== 'reply')).toEqual([]);
  });

  it('delivers receipts and typing once to each socket: on the conversation channel if open, else in the user room', async () => {
    const id = await directBetween('ra', 'rb');
    const channel = `conversation:${id}`;
    const [aList, aOpen, bList, bOpen] = [await socketOf('ra'), await socketOf('ra'), await socketOf('rb'), await socketOf('rb')];
    for (const s of [aOpen, bOpen]) expect((await ask(s, 'subscribe', { channels: [channel] })).subscribed).toEqual([channel]);
    const [a, b] = [await app('ra'), await app('rb')];
    const m = (await a.post(`/conversations/${id}/messages`, { content: 'tick' }).expect(201)).body;
    const seen = [aList, aOpen, bList, bOpen].map(record);
    const [seenAList, seenAOpen, seenBList, seenBOpen] = seen;

    await b.post(`/conversations/${id}/messages/status`, { status: 'delivered', upToSeq: 1 }).expect(200);
    await b.post(`/conversations/${id}/messages/status`, { status: 'read', upToSeq: 1 }).expect(200);
    await a.post(`/conversations/${id}/typing`, { isTyping: true }).expect(200); // REST typing by ra
    expect(await ask(bOpen, 'typing:start', { conversationId: id })).toEqual({ ok: true }); // socket typing by rb
    await eventually(() => seen.every((s) => s.length >= 3));
    await sleep(300);

    const receipt = { conversationId: id, userId: 'rb', upToSeq: 1, messageId: m.id };
    const of = (events: [string, any, any][], ...names: string[]) =>
      events.filter(([e]) => names.includes(e)).map(([e, payload, meta]) => [e, payload, meta.channel]);
    for (const [events, user, open] of [
      [seenAList, 'ra', false],
      [seenAOpen, 'ra', true],
      [seenBList, 'rb', false],
      [seenBOpen, 'rb', true],
    ] as const) {
      const where = open ? channel : `user:${user}`;
      expect(of(events, 'message:delivered', 'message:read')).toEqual([
        ['message:delivered', receipt, where],
        ['message:read', receipt, where],
      ]);
    }
    // Each typist's own sockets hear nothing of their typing (rb's open socket typed; rb's list did not hear it).
    expect(of(seenAList, 'typing:start')).toEqual([['typing:start', { channel, userId: 'rb' }, 'user:ra']]);
    expect(of(seenAOpen, 'typing:start')).toEqual([['typing:start', { channel, userId: 'rb' }, channel]]);
    expect(of(seenBList, 'typing:start')).toEqual([['typing:start', { channel, userId: 'ra' }, 'user:rb']]);
    expect(of(seenBOpen, 'typing:start')).toEqual([['typing:start', { channel, userId: 'ra' }, channel]]);
  });

  it('accepts read and delivered statuses per message, mapped onto the pointer, with the ids in the events', async () => {
    const id = await directBetween('sa', 'sb');
    const other = await directBetween('sa', 'sc');
    const [a, b] = [await app('sa'), await app('sb')];
    const ms = [];
    for (const content of ['one', 'two', 'three']) ms.push((await a.post(`/conversations/${id}/messages`, { content }).expect(201)).body);
    const elsewhere = (await a.post(`/conversations/${other}/messages`, { content: 'not here' }).expect(201)).body;
    const watcher = await socketOf('sa');
    const seen = record(watcher);
    const status = (body: object) => b.post(`/conversations/${id}/messages/status`, body);

    expect((await status({ status: 'delivered', messageIds: [ms[1].id, ms[0].id] }).expect(200)).body).toMatchObject({
      lastDeliveredSeq: 2,
      lastReadSeq: 0,
      unreadCount: 3,
    });
    expect((await status({ status: 'read', messageId: ms[0].id }).expect(200)).body).toMatchObject({ lastDeliveredSeq: 2, lastReadSeq: 1 });
    // Behind the pointer: accepted, nothing moves, no event.
    expect((await status({ status: 'delivered', messageId: ms[0].id }).expect(200)).body).toMatchObject({ lastDeliveredSeq: 2 });

    // Unknown ids (another conversation's message, a random id, not an id) are 404 and move nothing.
    for (const body of [
      { status: 'read', messageId: elsewhere.id },
      { status: 'read', messageIds: [ms[2].id, randomUUID()] },
      { status: 'read', messageId: 'garbage' },
    ]) {
      const res = await status(body).expect(404);
      expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'message_not_found' });
    }
    for (const body of [
      { status: 'read' },
      { status: 'read', upToSeq: 3, messageId: ms[2].id },
      { status: 'read', messageIds: [] },
      { status: 'read', messageIds: 'x' },
      { status: 'seen', messageId: ms[2].id },
    ]) {
      const res = await status(body).expect(400);
      expect(res.body).toMatchObject({ ...ERROR_SHAPE, code: 'validation_failed' });
    }
    const history = (await a.get(`/conversations/${id}/messages`).expect(200)).body;
    expect(history.messages.map((m: { status: string }) => m.status)).toEqual(['read', 'delivered', 'sent']);

    await eventually(() => seen.filter(([e]) => e === 'message:delivered' || e === 'message:read').length >= 2);
    await sleep(200);
    expect(seen.filter(([e]) => e === 'message:delivered' || e === 'message:read').map(([e, p]) => [e, p])).toEqual([
      ['message:delivered', { conversationId: id, userId: 'sb', upToSeq: 2, messageId: ms[1].id, messageIds: [ms[1].id, ms[0].id] }],
      ['message:read', { conversationId: id, userId: 'sb', upToSeq: 1, messageId: ms[0].id, messageIds: [ms[0].id] }],
    ]);
  });
});
