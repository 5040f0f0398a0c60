import { PresenceService } from '../src/modules/realtime/presence.service';
import { NotificationCreated, NotificationEvents } from '../src/modules/notifications/notification-events';
import { eventually, sleep } from '../tools/scratch';
import { messagingClient, MessagingClient } from './support/messaging';
import { connect, ClientSocket, next, record, request as ask } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

const run = Date.now().toString(36);

describe('messaging (one instance)', () => {
  let t: TestApp;
  const tenant = `msg-${run}`;
  const sockets: ClientSocket[] = [];
  const pushes: NotificationCreated[] = [];
  const as = async (user: string, tid = tenant): Promise<MessagingClient> => messagingClient(t.url, await t.token({ sub: user, tid }));
  const socketOf = async (user: string, tid = tenant) => {
    const s = await connect(t.url, await t.token({ sub: user, tid }));
    sockets.push(s);
    return s;
  };
  const direct = async (a: MessagingClient, other: string) => {
    const res = await a.post('/conversations', {
      type: 'direct',
      participantIds: [other],
    });
    expect([200, 201]).toContain(res.status);
    return res.body.id as string;
  };
  const send = async (c: MessagingClient, id: string, content: string, clientMessageId?: string) => {
    const res = await c.post(`/conversations/${id}/messages`, {
      content,
      clientMessageId,
    });
    expect(res.status).toBe(201);
    return res.body;
  };
  const pushesFor = (conversationId: string) => pushes.filter((p) => p.data.conversationId === conversationId);

  beforeAll(async () => {
    t = await startTestApp({
      REALTIME_PRESENCE_OFFLINE_DELAY_MS: '0',
      REALTIME_EVENTS_PER_SECOND: '200',
    });
    t.app.get(NotificationEvents).onCreated((n) => void pushes.push(n));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  it('creates a direct conversation once, also under concurrent creates from both sides', async () => {
    const [x, y] = [await as('dx'), await as('dy')];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? x : y).post('/conversations', {
          type: 'direct',
          participantIds: [i % 2 ? 'dy' : 'dx'],
        }),
      ),
    );
    const ids = new Set(results.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(9);
    expect(results[0].body).toMatchObject({
      type: 'direct',
      participantIds: ['dx', 'dy'],
      unreadCount: 0,
      lastSeq: 0,
    });
    // A group of the same two is a different conversation.
    const group = await x
      .post('/conversations', {
        type: 'group',
        participantIds: ['dy'],
        title: 'Pair',
      })
      .expect(201);
    expect(group.body.id).not.toBe(results[0].body.id);
    expect(group.body).toMatchObject({
      type: 'group',
      title: 'Pair',
      role: 'admin',
      participantIds: ['dx', 'dy'],
    });
    // Validation: a direct conversation needs exactly one other user.
    await x.post('/conversations', { type: 'direct', participantIds: ['dx'] }).expect(400);
    await x.post('/conversations', { type: 'direct', participantIds: ['a', 'b'] }).expect(400);
    await x.post('/conversations', { type: 'channel', participantIds: ['dy'] }).expect(400);
    await x
      .post('/conversations', {
        type: 'direct',
        participantIds: ['dy'],
        extra: 1,
      })
      .expect(400);
  });

  it('stores one message per clientMessageId, over REST and the socket', async () => {
    const a = await as('ia');
    const id = await direct(a, 'ib');
    const first = await a
      .post(`/conversations/${id}/messages`, {
        content: 'hello',
        clientMessageId: 'c-1',
      })
      .expect(201);
    const again = await a
      .post(`/conversations/${id}/messages`, {
        content: 'hello',
        clientMessageId: 'c-1',
      })
      .expect(200);
    expect(again.body).toEqual(first.body);
    expect(first.body).toMatchObject({
      seq: 1,
      senderId: 'ia',
      clientMessageId: 'c-1',
      kind: 'text',
      content: 'hello',
    });

    const socket = await socketOf('ia');
    const ack = await ask(socket, 'message:send', {
      conversationId: id,
      clientMessageId: 'c-1',
      content: 'hello',
    });
    expect(ack).toEqual({ message: first.body, duplicate: true });
    const fresh = await ask(socket, 'message:send', {
      conversationId: id,
      clientMessageId: 'c-2',
      content: 'over the socket',
    });
    expect(fresh).toMatchObject({
      duplicate: false,
      message: { seq: 2, content: 'over the socket', clientMessageId: 'c-2' },
    });
    // Concurrent resends of one id: one row, no gap in seq.
    const racing = await Promise.all(
      Array.from({ length: 5 }, () =>
        a.post(`/conversations/${id}/messages`, {
          content: 'race',
          clientMessageId: 'c-3',
        }),
      ),
    );
    expect(new Set(racing.map((r) => r.body.id)).size).toBe(1);
    expect(racing.filter((r) => r.status === 201)).toHaveLength(1);
    const page = await a.get(`/conversations/${id}/messages`).expect(200);
    expect(page.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3]);
    // The same id in another conversation is a conflict, not a silent reuse.
    const other = await direct(a, 'ic');
    await a
      .post(`/conversations/${other}/messages`, {
        content: 'x',
        clientMessageId: 'c-1',
      })
      .expect(409);

    expect(await ask(socket, 'message:send', { conversationId: id, content: '' })).toEqual({
      error: { code: 'invalid_payload', message: expect.any(String) },
    });
    expect(await ask(socket, 'message:send', 'nope')).toEqual({
      error: { code: 'invalid_payload', message: expect.any(String) },
    });
    const stranger = await socketOf('stranger');
    expect(
      await ask(stranger, 'message:send', {
        conversationId: id,
        clientMessageId: 's1',
        content: 'hi',
      }),
    ).toEqual({
      error: { code: 'conversation_not_found', message: expect.any(String) },
    });
    await a.post(`/conversations/${id}/messages`, { content: 'x'.repeat(4001) }).expect(400);
    await a
      .post(`/conversations/${id}/messages`, {
        content: 'x'.repeat(4000),
        clientMessageId: 'long',
      })
      .expect(201);
  });

  it('gives 20 concurrent sends into one conversation 20 distinct consecutive seqs', async () => {
    const a = await as('ca');
    const id = (await a.post('/conversations', { type: 'group', participantIds: ['cb', 'cc'] }).expect(201)).body.id;
    const b = await as('cb');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).post(`/conversations/${id}/messages`, {
          content: `m${i}`,
          clientMessageId: `k${i}`,
        }),
      ),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(results.map((r) => r.body.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const page = await a.get(`/conversations/${id}/messages?limit=100`).expect(200);
    expect(page.body.messages.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(page.body.lastSeq).toBe(20);
  });

  it('counts unread after a mix of sends and reads, and lists conversations by last activity with a cursor', async () => {
    const [a, b] = [await as('ua'), await as('ub')];
    const c1 = await direct(a, 'ub');
    const c2 = (
      await a
        .post('/conversations', {
          type: 'group',
          participantIds: ['ub', 'uc'],
          title: 'G',
        })
        .expect(201)
    ).body.id;
    const c3 = await direct(b, 'ud');
    for (let i = 0; i < 3; i++) await send(a, c1, `a${i}`);
    await send(b, c1, 'reply'); // posting counts as reading: b read 4 of 4
    await send(a, c1, 'after reply');
    for (let i = 0; i < 4; i++) await send(a, c2, `g${i}`);
    await send(b, c3, 'to d');

    let list = (await b.get('/conversations').expect(200)).body;
    expect(list.items.map((c: { id: string }) => c.id)).toEqual([c3, c2, c1]);
    const unread = Object.fromEntries(list.items.map((c: { id: string; unreadCount: number }) => [c.id, c.unreadCount]));
    expect(unread).toEqual({ [c1]: 1, [c2]: 4, [c3]: 0 });
    expect(list.items[1].lastMessage).toMatchObject({
      seq: 4,
      content: 'g3',
      senderId: 'ua',
    });

    // Read part of c2, deliver all of c1 (delivered does not change unread), then read c1 entirely.
    expect(
      (
        await b
          .post(`/conversations/${c2}/messages/status`, {
            status: 'read',
            upToSeq: 2,
          })
          .expect(200)
      ).body,
    ).toEqual({
      conversationId: c2,
      lastDeliveredSeq: 2,
      lastReadSeq: 2,
      unreadCount: 2,
    });
    // Pointers never move back, and never past the newest message.
    await b
      .post(`/conversations/${c2}/messages/status`, {
        status: 'read',
        upToSeq: 1,
      })
      .expect(200);
    await b
      .post(`/conversations/${c1}/messages/status`, {
        status: 'delivered',
        upToSeq: 99,
      })
      .expect(200);
    list = (await b.get('/conversations').expect(200)).body;
    const byId = Object.fromEntries(list.items.map((c: { id: string }) => [c.id, c]));
    expect(byId[c2]).toMatchObject({ unreadCount: 2, lastReadSeq: 2 });
    expect(byId[c1]).toMatchObject({
      unreadCount: 1,
      lastDeliveredSeq: 5,
      lastReadSeq: 4,
    });
    expect((await b.post(`/conversations/${c1}/read`).expect(200)).body).toMatchObject({ lastReadSeq: 5, unreadCount: 0 });

    // The sender sees per-message status from the other side's pointers.
    const history = (await a.get(`/conversations/${c2}/messages`).expect(200)).body;
    expect(history.messages.map((m: { status: string }) => m.status)).toEqual(['sent', 'sent', 'sent', 'sent']); // uc has read nothing
    await (await as('uc')).post(`/conversations/${c2}/read`).expect(200);
    let after = (await a.get(`/conversations/${c2}/messages`).expect(200)).body;
    expect(after.messages.map((m: { status: string }) => m.status)).toEqual(['read', 'read', 'sent', 'sent']); // ub read 2 of 4
    expect(after).toMatchObject({ readUpToSeq: 2, deliveredUpToSeq: 2 });
    await b.post(`/conversations/${c2}/messages/status`, { status: 'delivered', upToSeq: 4 }).expect(200);
    after = (await a.get(`/conversations/${c2}/messages`).expect(200)).body;
    expect(after.messages.map((m: { status: string }) => m.status)).toEqual(['read', 'read', 'delivered', 'delivered']);
    expect(after).toMatchObject({ readUpToSeq: 2, deliveredUpToSeq: 4 });

    // Cursor pagination over the list.
    const first = (await b.get('/conversations?limit=2').expect(200)).body;
    expect(first).toMatchObject({
      hasMore: true,
      nextCursor: expect.any(String),
    });
    const second = (await b.get(`/conversations?limit=2&cursor=${first.nextCursor}`).expect(200)).body;
    expect([...first.items, ...second.items].map((c: { id: string }) => c.id)).toEqual([c3, c2, c1]);
    expect(second).toMatchObject({ hasMore: false, nextCursor: null });
    await b.get('/conversations?cursor=garbage').expect(400);
  });

  it('pages history with before and after', async () => {
    const a = await as('ha');
    const id = await direct(a, 'hb');
    for (let i = 1; i <= 7; i++) await send(a, id, `h${i}`);
    const newest = (await a.get(`/conversations/${id}/messages?limit=3`).expect(200)).body;
    expect(newest.messages.map((m: { seq: number }) => m.seq)).toEqual([5, 6, 7]);
    expect(newest.hasMore).toBe(true);
    const older = (await a.get(`/conversations/${id}/messages?limit=3&before=5`).expect(200)).body;
    expect(older.messages.map((m: { seq: number }) => m.seq)).toEqual([2, 3, 4]);
    const oldest = (await a.get(`/conversations/${id}/messages?limit=3&before=2`).expect(200)).body;
    expect(oldest).toMatchObject({ hasMore: false });
    expect(oldest.messages.map((m: { seq: number }) => m.seq)).toEqual([1]);
    const catchUp = (await a.get(`/conversations/${id}/messages?after=4&limit=2`).expect(200)).body;
    expect(catchUp.messages.map((m: { seq: number }) => m.seq)).toEqual([5, 6]);
    expect(catchUp.hasMore).toBe(true);
    expect((await a.get(`/conversations/${id}/messages`).expect(200)).body.messages).toHaveLength(7);
    await a.get(`/conversations/${id}/messages?limit=0`).expect(400);
    await a.get(`/conversations/${id}/messages?before=abc`).expect(400);
    await a.get(`/conversations/${id}/messages?before=3&after=1`).expect(400);
  });

  it('propagates edits and deletes, by the sender only, leaving a tombstone', async () => {
    const [a, b] = [await as('ea'), await as('eb')];
    const id = await direct(a, 'eb');
    const sb = await socketOf('eb');
    await ask(sb, 'subscribe', { channels: [`conversation:${id}`] });
    const seen = record(sb);
    const m = await send(a, id, 'first draft');
    const edited = (await a.patch(`/conversations/${id}/messages/${m.id}`, { content: 'final' }).expect(200)).body;
    expect(edited).toMatchObject({
      id: m.id,
      content: 'final',
      editedAt: expect.any(String),
      seq: 1,
    });
    await b.patch(`/conversations/${id}/messages/${m.id}`, { content: 'hijack' }).expect(403);
    await b.delete(`/conversations/${id}/messages/${m.id}`).expect(403);
    const deleted = (await a.delete(`/conversations/${id}/messages/${m.id}`).expect(200)).body;
    expect(deleted).toMatchObject({
      id: m.id,
      content: null,
      deletedAt: expect.any(String),
    });
    await a.patch(`/conversations/${id}/messages/${m.id}`, { content: 'again' }).expect(409);
    await a.delete(`/conversations/${id}/messages/${m.id}`).expect(200);
    await a.patch(`/conversations/${id}/messages/00000000-0000-4000-8000-000000000000`, { content: 'x' }).expect(404);
    await a.patch(`/conversations/${id}/messages/not-a-uuid`, { content: 'x' }).expect(404);

    await eventually(() => seen.some(([e]) => e === 'message:deleted'));
    await sleep(100);
    expect(seen.filter(([e]) => e.startsWith('message:')).map(([e, p]) => [e, p.content ?? null])).toEqual([
      ['message:new', 'first draft'],
      ['message:updated', 'final'],
      ['message:deleted', null],
    ]);
    expect(seen.find(([e]) => e === 'message:deleted')![1]).toEqual({
      id: m.id,
      conversationId: id,
      seq: 1,
      deletedAt: deleted.deletedAt,
    });
    const history = (await b.get(`/conversations/${id}/messages`).expect(200)).body.messages;
    expect(history).toEqual([
      expect.objectContaining({
        id: m.id,
        content: null,
        deletedAt: deleted.deletedAt,
      }),
    ]);
  });

  it('answers 404 to a non-participant on every route, and refuses the channel', async () => {
    const a = await as('pa');
    const id = await direct(a, 'pb');
    const m = await send(a, id, 'secret');
    const outsiders = [await as('outsider'), await as('pa', `${tenant}-other`)]; // another user; same user id in another tenant
    for (const o of outsiders) {
      const calls = [
        o.get(`/conversations/${id}`),
        o.get(`/conversations/${id}/messages`),
        o.post(`/conversations/${id}/messages`, { content: 'x' }),
        o.patch(`/conversations/${id}/messages/${m.id}`, { content: 'x' }),
        o.delete(`/conversations/${id}/messages/${m.id}`),
        o.post(`/conversations/${id}/messages/status`, {
          status: 'read',
          upToSeq: 1,
        }),
        o.post(`/conversations/${id}/typing`, {}),
        o.post(`/conversations/${id}/read`),
        o.post(`/conversations/${id}/participants`, { userIds: ['x'] }),
        o.delete(`/conversations/${id}/participants`),
        o.delete(`/conversations/${id}/participants/pb`),
        o.put(`/conversations/${id}/mute`, { until: null }),
      ];
      for (const res of await Promise.all(calls)) {
        expect([res.status, res.body.code]).toEqual([404, 'conversation_not_found']);
      }
      expect((await o.get('/conversations').expect(200)).body.items).toEqual([]);
    }
    // Malformed ids are 404 too, never 500.
    for (const res of await Promise.all([
      a.get('/conversations/not-a-uuid'),
      a.get("/conversations/1'%20OR%201=1/messages"),
      a.post('/conversations/123/messages', { content: 'x' }),
    ]))
      expect(res.status).toBe(404);

    const socket = await socketOf('outsider');
    const ack = await ask(socket, 'subscribe', {
      channels: [`conversation:${id}`, 'conversation:nope'],
    });
    expect(ack.subscribed).toEqual([]);
    expect(ack.rejected).toEqual([
      { channel: `conversation:${id}`, reason: 'forbidden' },
      { channel: 'conversation:nope', reason: 'forbidden' },
    ]);
    const poll = await outsiders[0].get(`/realtime/events?channel=conversation:${id}`);
    expect(poll.status).toBe(403);
    const mine = await socketOf('pa');
    expect((await ask(mine, 'subscribe', { channels: [`conversation:${id}`] })).subscribed).toEqual([`conversation:${id}`]);
  });

  it('adds and removes group participants; one who leaves stops receiving at once and loses access', async () => {
    const [admin, member] = [await as('ga'), await as('gb')];
    const id = (
      await admin
        .post('/conversations', {
          type: 'group',
          participantIds: ['gb'],
          title: 'Team',
        })
        .expect(201)
    ).body.id;
    await member.post(`/conversations/${id}/participants`, { userIds: ['gx'] }).expect(403);
    const added = (await admin.post(`/conversations/${id}/participants`, { userIds: ['gc', 'gb'] }).expect(200)).body;
    expect(added.participantIds).toEqual(['ga', 'gb', 'gc']);
    expect(added.participants.find((p: { userId: string }) => p.userId === 'ga').role).toBe('admin');

    const sb = await socketOf('gb');
    await ask(sb, 'subscribe', { channels: [`conversation:${id}`] });
    const seen = record(sb);
    await send(admin, id, 'before leaving');
    await eventually(() => seen.some(([e]) => e === 'message:new'));

    await member.delete(`/conversations/${id}/participants`).expect(204);
    await send(admin, id, 'after leaving');
    await admin.post(`/conversations/${id}/typing`, {}).expect(200);
    await sleep(300);
    const contents = seen.filter(([e]) => e === 'message:new').map(([, p]) => p.content);
    expect(contents).toEqual(['before leaving']);
    // Its own user room still says it left (so the list can drop the conversation).
    expect(seen.some(([e, p]) => e === 'conversation:updated' && p.change === 'participant_left')).toBe(true);
    expect(await ask(sb, 'typing:start', { channel: `conversation:${id}` })).toEqual({
      error: { code: 'not_subscribed', message: expect.any(String) },
    });
    expect((await ask(sb, 'subscribe', { channels: [`conversation:${id}`] })).rejected).toEqual([
      { channel: `conversation:${id}`, reason: 'forbidden' },
    ]);
    await member.get(`/conversations/${id}`).expect(404);
    expect((await member.get('/conversations').expect(200)).body.items.map((c: { id: string }) => c.id)).not.toContain(id);

    // The admin removes gc; only admins remove others; re-adding brings history back.
    await member.delete(`/conversations/${id}/participants/gc`).expect(404); // gb is no longer in it
    await admin.delete(`/conversations/${id}/participants/gc`).expect(204);
    await admin.delete(`/conversations/${id}/participants/gc`).expect(404);
    await admin.post(`/conversations/${id}/participants`, { userIds: ['gb'] }).expect(200);
    const back = (await member.get(`/conversations/${id}/messages`).expect(200)).body.messages;
    expect(back.map((m: { content: string }) => m.content)).toEqual(['before leaving', 'after leaving']);
    const direct1 = await direct(admin, 'gz');
    await admin.post(`/conversations/${direct1}/participants`, { userIds: ['gy'] }).expect(400);
  });

  it('sends each participant message:new once: on the conversation channel if open, else in the user room', async () => {
    const a = await as('na');
    const id = await direct(a, 'nb');
    const open = await socketOf('nb'); // has the conversation open
    const listOnly = await socketOf('nb'); // only the conversation list
    await ask(open, 'subscribe', { channels: [`conversation:${id}`] });
    const [seenOpen, seenList] = [record(open), record(listOnly)];
    const m = await send(a, id, 'once');
    await eventually(() => seenOpen.length > 0 && seenList.length > 0);
    await sleep(200);
    expect(seenOpen.filter(([e]) => e === 'message:new').map(([, p, meta]) => [p.id, meta.channel])).toEqual([
      [m.id, `conversation:${id}`],
    ]);
    expect(seenList.filter(([e]) => e === 'message:new').map(([, p, meta]) => [p.id, meta.channel])).toEqual([[m.id, 'user:nb']]);

    // Typing over REST reaches the channel; status events carry the user and upToSeq.
    const typing = next<any>(open, 'typing:start');
    await a.post(`/conversations/${id}/typing`, { isTyping: true }).expect(200);
    expect((await typing)[0]).toEqual({
      channel: `conversation:${id}`,
      userId: 'na',
    });
    const stop = next<any>(open, 'typing:stop');
    await a.post(`/conversations/${id}/typing`, { isTyping: false }).expect(200);
    expect((await stop)[0]).toEqual({
      channel: `conversation:${id}`,
      userId: 'na',
    });
    const read = next<any>(open, 'message:read');
    await (await as('nb')).post(`/conversations/${id}/read`).expect(200);
    expect((await read)[0]).toEqual({
      conversationId: id,
      userId: 'nb',
      upToSeq: 1,
      messageId: m.id,
    });
  });

  it('requests a push for offline recipients only, none when muted, with the conversation in its data', async () => {
    const [a, b] = [await as('xa'), await as('xb')];
    const id = await direct(a, 'xb');
    const sa = await socketOf('xa'); // the sender is online; the recipient is not
    const m1 = await send(a, id, 'are you there?');
    await eventually(() => pushesFor(id).length === 1);
    expect(pushesFor(id)[0]).toMatchObject({
      userIds: ['xb'],
      category: 'message',
      title: 'xa',
      body: 'are you there?',
      data: {
        type: 'message',
        conversationId: id,
        messageId: m1.id,
        seq: '1',
        senderId: 'xa',
      },
    });
    // The inbox holds it for xb, and nothing for xa.
    expect((await b.get('/notifications').expect(200)).body.items[0].data.messageId).toBe(m1.id);
    expect((await a.get('/notifications').expect(200)).body.items).toEqual([]);

    // A resend does not push again; a long message is previewed.
    await a
      .post(`/conversations/${id}/messages`, {
        content: 'are you there?',
        clientMessageId: m1.clientMessageId,
      })
      .expect(200);
    const m2 = await send(a, id, 'y'.repeat(500));
    await eventually(() => pushesFor(id).length === 2);
    expect(pushesFor(id)[1].body!.length).toBeLessThanOrEqual(120);
    expect(pushesFor(id)[1].data.messageId).toBe(m2.id);

    // B comes online: no push. B's reply to an online A: no push either.
    const sb = await socketOf('xb');
    await send(a, id, 'now online');
    await send(b, id, 'yes');
    await sleep(300);
    expect(pushesFor(id)).toHaveLength(2);
    sb.close();
    await eventually(async () => !(await t.app.get(PresenceService).isOnline(tenant, 'xb')));

    // Muted: no push while the mute lasts.
    const muted = (
      await b
        .put(`/conversations/${id}/mute`, {
          until: new Date(Date.now() + 3600_000).toISOString(),
        })
        .expect(200)
    ).body;
    expect(muted.mutedUntil).toEqual(expect.any(String));
    await sleep(100);
    await send(a, id, 'muted message');
    await sleep(300);
    expect(pushesFor(id)).toHaveLength(2);
    // An expired mute no longer silences; unmuting with null works too.
    await b
      .put(`/conversations/${id}/mute`, {
        until: new Date(Date.now() - 1000).toISOString(),
      })
      .expect(200);
    await send(a, id, 'mute expired');
    await eventually(() => pushesFor(id).length === 3);
    await b.put(`/conversations/${id}/mute`, { until: null }).expect(200);
    await b.put(`/conversations/${id}/mute`, { until: 'tomorrow' }).expect(400);
    sa.close();
  });
});
