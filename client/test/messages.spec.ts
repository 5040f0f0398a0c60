import { io, Socket } from 'socket.io-client';
import { SocketLink } from '../src/context';
import { TetherHttpError } from '../src/errors';
import { Message, MessagesClient, PendingMessage } from '../src/messages';
import { memoryStorage } from '../src/storage';
import { closedPort, context, eventually, freshTenant, Server, startServer, token } from './data-support';

describe('MessagesClient against the real server', () => {
  let server: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    server = await startServer();
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await server?.close();
  }, 30_000);

  /** Alice and Bob in a direct conversation; Alice's context with `opts`. */
  const chat = async (opts: Parameters<typeof context>[2] = {}) => {
    const tid = freshTenant('sdkmsg');
    const alice = await context(server, { tid, sub: 'alice' }, opts);
    const bob = await context(server, { tid, sub: 'bob' });
    const id = (await bob.ctx.http.post<{ id: string }>('/conversations', { type: 'direct', participantIds: ['alice'] })).id;
    return { tid, id, alice, bob };
  };
  const sends = (sent: { method: string; url: string; body: any }[]) =>
    sent.filter((s) => s.method === 'POST' && s.url.endsWith('/messages')).map((s) => s.body.clientMessageId as string);

  it('send over HTTP: a lost response is resent with the same clientMessageId and the message is stored once', async () => {
    let lost = 0;
    const { id, alice, bob } = await chat({
      hook: async (url, _init, forward) => {
        const response = await forward();
        if (url.endsWith('/messages') && !lost++) throw new TypeError('fetch failed: connection reset');
        return response;
      },
    });
    const messages = new MessagesClient(alice.ctx, { initialDelayMs: 20 });
    const pending: PendingMessage[][] = [];
    messages.on('pending', (p) => pending.push(p));
    const message = await messages.send(id, 'hi bob');
    expect(message).toMatchObject({ conversationId: id, seq: 1, senderId: 'alice', content: 'hi bob' });
    const ids = sends(alice.sent);
    expect(ids).toEqual([message.clientMessageId, message.clientMessageId]);
    expect(pending.at(-1)).toEqual([]);
    expect(await new MessagesClient(bob.ctx).catchUp(id, 0)).toEqual([expect.objectContaining({ id: message.id, seq: 1 })]);
  });

  it('messages sent while the server is unreachable stay in storage and arrive once, in order, after a restart', async () => {
    const storage = memoryStorage();
    const closed = await closedPort(server.url);
    const { tid, id, alice, bob } = await chat({ storage, hook: (url, init) => fetch(url.replace(server.url, closed), init) });
    const first = new MessagesClient(alice.ctx, { initialDelayMs: 20, maxDelayMs: 50 });
    const outcomes = ['one', 'two', 'three'].map((text) => first.send(id, text).catch((err: Error) => err));
    await eventually(async () => JSON.parse((await storage.getItem('tether:messages:pending')) ?? '[]').length === 3);
    await eventually(() => alice.sent.length >= 3);
    first.close();
    for (const outcome of await Promise.all(outcomes)) expect(outcome).toMatchObject({ name: 'TetherNetworkError' });
    const stored = JSON.parse((await storage.getItem('tether:messages:pending'))!) as PendingMessage[];
    expect(stored.map((p) => p.content)).toEqual(['one', 'two', 'three']);
    // Every attempt so far was for the first message: sends go out in order.
    expect(new Set(sends(alice.sent))).toEqual(new Set([stored[0].clientMessageId]));

    const again = await context(server, { tid, sub: 'alice' }, { storage });
    const second = new MessagesClient(again.ctx);
    const sent: Message[] = [];
    second.on('sent', (m) => sent.push(m));
    await eventually(() => sent.length === 3);
    expect(sent.map((m) => [m.seq, m.content, m.clientMessageId])).toEqual(stored.map((p, i) => [i + 1, p.content, p.clientMessageId]));
    expect((await new MessagesClient(bob.ctx).catchUp(id, 0)).map((m) => m.content)).toEqual(['one', 'two', 'three']);
    await eventually(async () => (await storage.getItem('tether:messages:pending')) === '[]');
  });

  it('a send the server refuses rejects at once and is not kept', async () => {
    const { alice } = await chat();
    const messages = new MessagesClient(alice.ctx, { initialDelayMs: 20 });
    const failed: unknown[] = [];
    messages.on('failed', (f) => failed.push(f));
    const err = await messages.send('00000000-0000-4000-8000-000000000000', 'hello?').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TetherHttpError);
    expect(err).toMatchObject({ status: 404, code: 'conversation_not_found' });
    expect(sends(alice.sent)).toHaveLength(1);
    expect(failed).toHaveLength(1);
    await eventually(async () => (await alice.storage.getItem('tether:messages:pending')) === '[]');
  });

  it('catchUp pages after= until a short page; read marks and typing over HTTP', async () => {
    const { id, alice, bob } = await chat();
    const messages = new MessagesClient(alice.ctx);
    const all = await Promise.all(Array.from({ length: 203 }, (_, i) => messages.send(id, `m${i}`)));
    expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 203 }, (_, i) => i + 1));

    const reader = new MessagesClient(bob.ctx);
    const got = await reader.catchUp(id, 1);
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 202 }, (_, i) => i + 2));
    expect(bob.sent.filter((s) => s.method === 'GET').map((s) => s.url)).toEqual([
      `/conversations/${id}/messages?after=1&limit=200`,
      `/conversations/${id}/messages?after=201&limit=200`,
    ]);
    expect(await reader.catchUp(id, 203)).toEqual([]);

    expect(await reader.markDelivered(id, 203)).toMatchObject({ lastDeliveredSeq: 203, lastReadSeq: 0 });
    expect(await reader.markRead(id, 150)).toMatchObject({ lastDeliveredSeq: 203, lastReadSeq: 150, unreadCount: 53 });
    await reader.typing(id, true);
    expect(bob.sent.at(-1)).toMatchObject({ method: 'POST', url: `/conversations/${id}/typing`, body: { isTyping: true } });
  });

  it('over the socket: a lost ack is resent with the same clientMessageId and answered with the stored message', async () => {
    const tid = freshTenant('sdkmsgws');
    const bob = await context(server, { tid, sub: 'bob' });
    const id = (await bob.ctx.http.post<{ id: string }>('/conversations', { type: 'direct', participantIds: ['alice'] })).id;
    const socket = io(`${server.url}/realtime`, { transports: ['websocket'], auth: { token: await token(tid, 'alice') }, forceNew: true });
    sockets.push(socket);
    await new Promise((resolve) => socket.once('session', resolve));
    const emitted: [string, unknown][] = [];
    const acks: unknown[] = [];
    const link: SocketLink = {
      get connected() {
        return socket.connected;
      },
      emitWithAck: async <T>(event: string, data: unknown, timeoutMs?: number) => {
        emitted.push([event, data]);
        const ack = await socket.timeout(timeoutMs ?? 5000).emitWithAck(event, data);
        acks.push(ack);
        // The first answer gets lost on its way back.
        if (acks.length === 1) throw new Error('operation has timed out');
        return ack as T;
      },
      onReachable: () => () => undefined,
    };
    const alice = await context(server, { tid, sub: 'alice' }, { socket: link });
    const messages = new MessagesClient(alice.ctx, { initialDelayMs: 20 });
    const message = await messages.send(id, 'over the socket');
    expect(alice.sent).toEqual([]);
    expect(emitted.map(([e, d]) => [e, (d as { clientMessageId: string }).clientMessageId])).toEqual([
      ['message:send', message.clientMessageId],
      ['message:send', message.clientMessageId],
    ]);
    expect(acks).toEqual([
      { message, duplicate: false },
      { message, duplicate: true },
    ]);
    expect(await new MessagesClient(bob.ctx).catchUp(id, 0)).toEqual([expect.objectContaining({ id: message.id })]);

    await messages.typing(id, true);
    expect(emitted.at(-1)).toEqual(['typing:start', { conversationId: id }]);
  });
});
