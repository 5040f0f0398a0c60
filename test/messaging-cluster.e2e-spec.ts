import { signDevToken } from '../src/core/auth/dev-token';
import { eventually, freePort, NodeProcess, sleep, spawnApp, waitReady } from '../tools/scratch';
import { messagingClient } from './support/messaging';
import { connect, ClientSocket, record, request as ask } from './support/sockets';

// Two app processes sharing PostgreSQL and Redis, as two pods would; users spread over both.
const POD_ENV = { LOG_LEVEL: 'silent', REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200', REALTIME_POD_TIMEOUT_MS: '5000' };
const tid = `msgcluster${Date.now().toString(36)}`;
const token = (sub: string) => signDevToken(process.env.MOBILE_JWT_SECRET!, { sub, tid, roles: ['MEMBER'] });

async function startPod(): Promise<{ url: string; proc: NodeProcess }> {
  const port = await freePort();
  const proc = spawnApp({ ...POD_ENV, PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/health/ready`);
  return { url, proc };
}

describe('messaging across two instances', () => {
  let a: { url: string; proc: NodeProcess };
  let b: { url: string; proc: NodeProcess };
  const sockets: ClientSocket[] = [];
  const socketOn = async (pod: { url: string }, user: string) => {
    const s = await connect(pod.url, await token(user));
    sockets.push(s);
    return s;
  };
  const client = async (pod: { url: string }, user: string) => messagingClient(pod.url, await token(user));

  beforeAll(async () => {
    [a, b] = await Promise.all([startPod(), startPod()]);
  }, 60000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const pod of [a, b]) pod?.proc.child.kill('SIGTERM');
    await Promise.all([a?.proc.exited, b?.proc.exited]);
  }, 30000);

  it('delivers A’s message to B on the other pod once, and B’s delivered and read back to A; push only when B is offline', async () => {
    const alice = await client(a, 'alice');
    const bob = await client(b, 'bob');
    const id = (await alice.post('/conversations', { type: 'direct', participantIds: ['bob'] }).expect(201)).body.id;
    const sa = await socketOn(a, 'alice');
    const sb = await socketOn(b, 'bob');
    const channel = `conversation:${id}`;
    expect((await ask(sa, 'subscribe', { channels: [channel] })).subscribed).toEqual([channel]);
    expect((await ask(sb, 'subscribe', { channels: [channel] })).subscribed).toEqual([channel]);
    const [seenA, seenB] = [record(sa), record(sb)];

    const ack = await ask(sa, 'message:send', { conversationId: id, clientMessageId: 'm-1', content: 'hi bob' });
    expect(ack).toMatchObject({ duplicate: false, message: { seq: 1, content: 'hi bob', senderId: 'alice' } });
    await eventually(() => seenB.some(([e]) => e === 'message:new'));
    // A resend after a lost ack: the same message, nothing new for anyone.
    expect(await ask(sa, 'message:send', { conversationId: id, clientMessageId: 'm-1', content: 'hi bob' })).toEqual({
      message: ack.message,
      duplicate: true,
    });

    expect((await bob.post(`/conversations/${id}/messages/status`, { status: 'delivered', upToSeq: 1 }).expect(200)).body).toMatchObject({
      lastDeliveredSeq: 1,
      unreadCount: 1,
    });
    await eventually(() => seenA.some(([e]) => e === 'message:delivered'));
    await bob.post(`/conversations/${id}/messages/status`, { status: 'read', upToSeq: 1 }).expect(200);
    await eventually(() => seenA.some(([e]) => e === 'message:read'));
    await sleep(300);
    expect(seenB.filter(([e]) => e === 'message:new').map(([, p, m]) => [p, m.channel])).toEqual([[ack.message, channel]]);
    expect(seenA.filter(([e]) => e === 'message:delivered' || e === 'message:read').map(([e, p]) => [e, p])).toEqual([
      ['message:delivered', { conversationId: id, userId: 'bob', upToSeq: 1, messageId: ack.message.id }],
      ['message:read', { conversationId: id, userId: 'bob', upToSeq: 1, messageId: ack.message.id }],
    ]);
    // Bob was online: no push for anyone.
    expect((await bob.get('/notifications').expect(200)).body.items).toEqual([]);

    // Bob goes offline: his next message is pushed (seen in his inbox), and nothing goes to Alice.
    sb.close();
    await sleep(800); // offline debounce (200 ms) and slack
    const offline = await ask(sa, 'message:send', { conversationId: id, clientMessageId: 'm-2', content: 'call me' });
    let inbox: { data: Record<string, string>; title: string; body: string; category: string }[] = [];
    await eventually(async () => (inbox = (await bob.get('/notifications').expect(200)).body.items).length > 0, {
      timeoutMs: 10000,
      everyMs: 100,
    });
    expect(inbox).toEqual([
      expect.objectContaining({
        category: 'message',
        title: 'alice',
        body: 'call me',
        data: expect.objectContaining({ conversationId: id, messageId: offline.message.id, type: 'message' }),
      }),
    ]);
    expect((await alice.get('/notifications').expect(200)).body.items).toEqual([]);
    expect((await bob.get('/conversations').expect(200)).body.items[0]).toMatchObject({ id, unreadCount: 1, lastSeq: 2 });
  }, 30000);

  it('revokes a leaving participant’s channel on every pod at once', async () => {
    const owner = await client(a, 'owner');
    const id = (await owner.post('/conversations', { type: 'group', participantIds: ['leaver', 'stayer'], title: 'T' }).expect(201)).body
      .id;
    const channel = `conversation:${id}`;
    const leaverA = await socketOn(a, 'leaver');
    const leaverB = await socketOn(b, 'leaver');
    const stayer = await socketOn(b, 'stayer');
    for (const s of [leaverA, leaverB, stayer]) expect((await ask(s, 'subscribe', { channels: [channel] })).subscribed).toEqual([channel]);
    const [seenLA, seenLB, seenS] = [record(leaverA), record(leaverB), record(stayer)];

    // Leaves through pod B; the owner sends through pod A right after.
    await (await client(b, 'leaver')).delete(`/conversations/${id}/participants`).expect(204);
    await owner.post(`/conversations/${id}/messages`, { content: 'after you left' }).expect(201);
    await owner.post(`/conversations/${id}/typing`, {}).expect(200);
    await eventually(() => seenS.some(([e]) => e === 'message:new'));
    await sleep(300);
    for (const seen of [seenLA, seenLB]) {
      expect(seen.filter(([e]) => e.startsWith('message:') || e.startsWith('typing:'))).toEqual([]);
      expect(seen.filter(([e]) => e === 'conversation:updated').map(([, p]) => p.change)).toEqual(['participant_left']);
    }
    // Both sockets' sessions dropped the channel too, on their own pods.
    for (const s of [leaverA, leaverB])
      expect(await ask(s, 'typing:start', { channel })).toEqual({ error: { code: 'not_subscribed', message: expect.any(String) } });
    expect((await ask(leaverB, 'subscribe', { channels: [channel] })).rejected).toEqual([{ channel, reason: 'forbidden' }]);
  }, 30000);

  it('gives concurrent sends through both pods consecutive seqs', async () => {
    const [pa, pb] = [await client(a, 'seq-a'), await client(b, 'seq-b')];
    const id = (await pa.post('/conversations', { type: 'direct', participantIds: ['seq-b'] }).expect(201)).body.id;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? pa : pb).post(`/conversations/${id}/messages`, { content: `n${i}`, clientMessageId: `s${i}` }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(results.map((r) => r.body.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  }, 30000);
});
