import { io, Socket } from 'socket.io-client';
import { eventually, sleep } from '../tools/scratch';
import { FakeExpo } from './support/fake-expo';
import { openPlain, PlainClient } from './support/plain-ws';
import { accessToken, api, apiOk as call, killPod, Pod, startPod, stopPods } from './support/pods';
import { Clients } from './support/tether';

// Acknowledged delivery across two pods: `worker` runs the fallback pushes and the push workers,
// `edge` (TETHER_ROLE=api) only serves sockets and HTTP, so every acknowledgement taken there
// reaches the fallback through Redis. The acknowledging client is the SDK; a frozen background app
// is a socket that declares `ack` and never acknowledges; a legacy client is a socket without it.
const ACK_TIMEOUT_MS = 1500;
const run = Date.now().toString(36);
const tid = `dlv${run}`;
const token = (user: string, roles = ['MEMBER']) => accessToken(tid, user, roles);

type Frame = [string, any, any];

describe('acknowledged delivery (two pods, the SDK as the client)', () => {
  const expo = new FakeExpo();
  const clients = new Clients();
  const sockets: Socket[] = [];
  const plains: PlainClient[] = [];
  let worker: Pod;
  let edge: Pod;

  beforeAll(async () => {
    await expo.start();
    const env = {
      EXPO_PUSH_URL: expo.url,
      DELIVERY_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS),
      REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200',
    };
    [worker, edge] = await Promise.all([startPod(env), startPod({ ...env, TETHER_ROLE: 'api' })]);
  }, 60_000);
  afterAll(async () => {
    clients.closeAll();
    for (const s of sockets) s.close();
    for (const p of plains) p.ws.close();
    await stopPods([worker, edge]);
    await expo.stop();
  }, 30_000);

  const expoToken = (name: string) => `ExponentPushToken[${name}-${run}]`;
  /** Registers an Expo device of the user; returns its Tether id. */
  const device = async (user: string, name: string): Promise<string> =>
    (await call(worker.url, await token(user), 'POST', '/devices/register', { token: expoToken(name), platform: 'ios' })).id;
  /** The pushes Expo got for one device token so far (data only: what the app sees). */
  const pushesTo = (name: string) => expo.sendRequests.flatMap((r) => r.messages).filter((m) => m.to === expoToken(name));

  /** A raw Socket.IO connection: `ack` declared (and never honoured: a frozen app) or not (a legacy client). */
  const rawSocket = async (pod: Pod, user: string, auth: Record<string, unknown>): Promise<{ socket: Socket; seen: Frame[] }> => {
    const socket = io(`${pod.url}/realtime`, {
      transports: ['websocket'],
      auth: { token: await token(user), ...auth },
      forceNew: true,
      reconnection: false,
    });
    sockets.push(socket);
    const seen: Frame[] = [];
    socket.onAny((event: string, payload: unknown, meta: unknown) => seen.push([event, payload, meta]));
    await new Promise<void>((resolve, reject) => {
      socket.once('session', () => resolve());
      socket.once('connect_error', reject);
    });
    return { socket, seen };
  };
  /** The SDK, acknowledging as it always does, naming its device. */
  const sdk = async (pod: Pod, user: string, deviceId?: string) => {
    const seen: [string, any, any][] = [];
    const tether = clients.make({ url: pod.url, token: () => token(user), ...(deviceId ? { deviceId } : {}) });
    for (const event of ['message:new', 'notification:new', 'message:delivered'])
      tether.onEvent(event, (payload: unknown, meta: unknown) => seen.push([event, payload, meta]));
    await eventually(() => tether.state === 'connected', { what: `${user} connected` });
    return { tether, seen };
  };
  const conversation = async (from: string, others: string[]): Promise<string> =>
    (
      await call(
        worker.url,
        await token(from),
        'POST',
        '/conversations',
        others.length === 1 ? { type: 'direct', participantIds: others } : { type: 'group', title: 'g', participantIds: others },
      )
    ).id;
  const send = async (from: string, conversationId: string, content: string) =>
    call<{ id: string; seq: number }>(edge.url, await token(from), 'POST', `/conversations/${conversationId}/messages`, { content });

  it('pushes nobody whose device acknowledged, pushes after the timeout whoever only has a frozen socket, and leaves legacy clients as they were', async () => {
    const bobDevice = await device('bob', 'bob-phone');
    await device('carol', 'carol-phone');
    await device('erin', 'erin-phone');
    const id = await conversation('alice', ['bob', 'carol', 'erin']);
    const alice = await sdk(worker, 'alice');
    const bob = await sdk(edge, 'bob', bobDevice); // acknowledges on the pod that runs no fallback
    const carol = await rawSocket(edge, 'carol', { ack: true }); // declares ack, never sends one
    const erin = await rawSocket(worker, 'erin', {}); // a legacy client

    const started = Date.now();
    const message = await send('alice', id, 'hello all');
    await eventually(() => bob.seen.some(([e, p]) => e === 'message:new' && p.id === message.id));
    // Every socket sees the same delivery id; the legacy one may ignore it.
    const frames = [carol.seen, erin.seen].map((seen) => seen.find(([e]) => e === 'message:new'));
    for (const frame of frames) expect(frame?.[2]).toMatchObject({ deliveryId: `m:${message.id}` });

    // Carol's frozen app: her push comes after the timeout, not before.
    await eventually(() => pushesTo('carol-phone').length > 0, { timeoutMs: ACK_TIMEOUT_MS + 5000, what: "carol's fallback push" });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(ACK_TIMEOUT_MS - 100);
    // One wait, not two (the message's push is not held again as a notification).
    expect(waited).toBeLessThan(2 * ACK_TIMEOUT_MS);
    expect(pushesTo('carol-phone')[0].data).toMatchObject({ type: 'message', messageId: message.id });
    await sleep(500);
    expect(pushesTo('bob-phone')).toEqual([]); // acknowledged in time
    expect(pushesTo('erin-phone')).toEqual([]); // online without acknowledging: today's rule

    // Delivered means a device has it: Bob's pointer moved (Alice saw the tick), Carol's and Erin's did not.
    await eventually(() => alice.seen.some(([e, p]) => e === 'message:delivered' && p.userId === 'bob' && p.upToSeq === message.seq));
    const state = await call(worker.url, await token('carol'), 'GET', `/conversations/${id}`);
    expect(state).toMatchObject({ lastDeliveredSeq: 0 });
    expect(alice.seen.filter(([e, p]) => e === 'message:delivered' && p.userId !== 'bob')).toEqual([]);

    // Receipts, for the sender: Bob's device by socket, Carol's by push, Erin's never.
    const { recipients } = await call<{ recipients: any[] }>(
      edge.url,
      await token('alice'),
      'GET',
      `/conversations/${id}/messages/${message.id}/deliveries`,
    );
    const of = (user: string) => recipients.find((r) => r.userId === user);
    expect(of('bob')).toMatchObject({
      outcome: 'socket',
      devices: [{ deviceId: bobDevice, socket: { transport: 'socketio' }, push: null }],
    });
    expect(of('carol')).toMatchObject({
      outcome: 'push',
      devices: [{ socket: null, push: { status: 'sent', detail: expect.stringMatching(/^expo: accepted/) } }],
    });
    expect(of('erin')).toMatchObject({ outcome: 'never', devices: [{ socket: null, push: null }] });
    // Only the sender (or SERVICE/ADMIN) sees them.
    const refused = await fetch(`${edge.url}/api/mobile/v1/conversations/${id}/messages/${message.id}/deliveries`, {
      headers: { Authorization: `Bearer ${await token('bob')}` },
    });
    expect(refused.status).toBe(403);
    void erin;
  }, 30_000);

  it('sends no push to either device when one of two acknowledges, and pushes offline recipients at once', async () => {
    await device('dave', 'dave-tablet');
    const davePhone = await device('dave', 'dave-phone');
    await device('gus', 'gus-phone');
    const id = await conversation('alice', ['dave', 'gus']);
    await rawSocket(worker, 'dave', { ack: true }); // the tablet: frozen
    await sdk(edge, 'dave', davePhone); // the phone: acknowledges

    const started = Date.now();
    const message = await send('alice', id, 'two devices');
    // Gus has no socket anywhere: pushed at once, well before the timeout.
    await eventually(() => pushesTo('gus-phone').length > 0, { what: "gus's direct push" });
    expect(Date.now() - started).toBeLessThan(ACK_TIMEOUT_MS);
    await sleep(ACK_TIMEOUT_MS + 1000);
    expect(pushesTo('dave-tablet')).toEqual([]);
    expect(pushesTo('dave-phone')).toEqual([]);
    const { recipients } = await call<{ recipients: any[] }>(
      worker.url,
      await token('alice'),
      'GET',
      `/conversations/${id}/messages/${message.id}/deliveries`,
    );
    expect(recipients.find((r) => r.userId === 'dave')).toMatchObject({ outcome: 'socket' });
    expect(recipients.find((r) => r.userId === 'gus')).toMatchObject({ outcome: 'push' });
  }, 30_000);

  it('dismisses a pushed message on the other devices once it is read on one', async () => {
    await device('frank', 'frank-phone');
    await device('frank', 'frank-watch');
    const id = await conversation('alice', ['frank']);
    await rawSocket(edge, 'frank', { ack: true }); // frozen: the fallback pushes both devices
    const message = await send('alice', id, 'read me later');
    await eventually(() => pushesTo('frank-phone').length > 0 && pushesTo('frank-watch').length > 0, { timeoutMs: ACK_TIMEOUT_MS + 5000 });

    // Read on a third screen (the web app): both devices get the silent dismissal.
    await call(edge.url, await token('frank'), 'POST', `/conversations/${id}/messages/status`, { status: 'read', messageId: message.id });
    const dismissals = (name: string) => pushesTo(name).filter((m) => m.data?.type === 'tether.dismiss');
    await eventually(() => dismissals('frank-phone').length === 1 && dismissals('frank-watch').length === 1, { what: 'dismissals' });
    expect(dismissals('frank-phone')[0]).toMatchObject({
      data: { type: 'tether.dismiss', conversationId: id, upToSeq: String(message.seq), collapseKey: `conversation-${id}` },
    });
    expect(dismissals('frank-phone')[0].title).toBeUndefined(); // silent
    // Read again: nothing new to dismiss.
    await call(edge.url, await token('frank'), 'POST', `/conversations/${id}/messages/status`, { status: 'read', upToSeq: message.seq });
    await sleep(500);
    expect(dismissals('frank-phone')).toHaveLength(1);
  }, 30_000);

  it('takes acknowledgements from plain WebSocket clients that ask for them (?ack=1), and from HTTP', async () => {
    const judyDevice = await device('judy', 'judy-phone');
    await device('kim', 'kim-phone');
    const id = await conversation('alice', ['judy', 'kim']);
    const judy = await openPlain(edge.url, {
      token: await token('judy'),
      path: '/messages/subscribe',
      query: `ack=1&deviceId=${judyDevice}`,
    });
    plains.push(judy);
    await judy.next((f) => f.type === 'connected');
    const kim = await rawSocket(worker, 'kim', { ack: true }); // acknowledges over HTTP instead, as a woken app would

    const message = await send('alice', id, 'plain and simple');
    const frame = await judy.next((f) => f.type === 'message.new');
    expect(frame).toMatchObject({ data: { id: message.id }, deliveryId: `m:${message.id}` });
    expect(await judy.request({ type: 'delivery:ack', ids: [frame.deliveryId] })).toMatchObject({ data: { ok: true, acknowledged: 1 } });
    await eventually(() => kim.seen.some(([e]) => e === 'message:new'));
    expect(await call(worker.url, await token('kim'), 'POST', '/deliveries/ack', { ids: [`m:${message.id}`, 'not-a-delivery'] })).toEqual({
      acknowledged: 1,
    });
    const invalid = await api(worker.url, await token('kim'), 'POST', '/deliveries/ack', { ids: [] });
    expect(invalid.status).toBe(400);

    await sleep(ACK_TIMEOUT_MS + 1000);
    expect(pushesTo('judy-phone')).toEqual([]);
    expect(pushesTo('kim-phone')).toEqual([]);
    const { recipients } = await call<{ recipients: any[] }>(
      worker.url,
      await token('alice'),
      'GET',
      `/conversations/${id}/messages/${message.id}/deliveries`,
    );
    expect(recipients.find((r) => r.userId === 'judy')).toMatchObject({
      outcome: 'socket',
      devices: [{ deviceId: judyDevice, socket: { transport: 'websocket' } }],
    });
    expect(recipients.find((r) => r.userId === 'kim')?.devices).toEqual(
      expect.arrayContaining([expect.objectContaining({ deviceId: null, socket: expect.objectContaining({ transport: 'http' }) })]),
    );
  }, 30_000);

  it('holds a notification push for an acknowledging device, and shows its receipts to its owner', async () => {
    const henDevice = await device('hen', 'hen-phone');
    await device('ivy', 'ivy-phone');
    const hen = await sdk(edge, 'hen', henDevice);
    await rawSocket(worker, 'ivy', { ack: true }); // frozen
    const service = await token('backend', ['SERVICE']);
    const sent = await call<{ notificationId: string }>(worker.url, service, 'POST', '/admin/notify', {
      userIds: ['hen', 'ivy'],
      category: 'system',
      title: 'Doors open',
      body: 'Come in',
    });
    await eventually(() => hen.seen.some(([e, , meta]) => e === 'notification:new' && meta.deliveryId === `n:${sent.notificationId}`));
    await eventually(() => pushesTo('ivy-phone').length > 0, { timeoutMs: ACK_TIMEOUT_MS + 5000, what: "ivy's fallback push" });
    await sleep(500);
    expect(pushesTo('hen-phone')).toEqual([]);

    const mine = await call<{ recipients: any[] }>(edge.url, await token('hen'), 'GET', `/notifications/${sent.notificationId}/deliveries`);
    expect(mine.recipients).toEqual([
      expect.objectContaining({ userId: 'hen', outcome: 'socket', devices: [expect.objectContaining({ deviceId: henDevice })] }),
    ]);
    const all = await call<{ recipients: any[] }>(edge.url, service, 'GET', `/notifications/${sent.notificationId}/deliveries`);
    expect(all.recipients.map((r) => [r.userId, r.outcome])).toEqual([
      ['hen', 'socket'],
      ['ivy', 'push'],
    ]);
    const stranger = await fetch(`${edge.url}/api/mobile/v1/notifications/${sent.notificationId}/deliveries`, {
      headers: { Authorization: `Bearer ${await token('mallory')}` },
    });
    expect(stranger.status).toBe(404);

    // The metrics say what happened (on whichever pod did it: both pods' together).
    const metrics = (await Promise.all([worker, edge].map(async (pod) => (await fetch(`${pod.url}/metrics`)).text()))).join('\n');
    expect(metrics).toMatch(/tether_delivery_pushes_total\{kind="notification",path="fallback"\} [1-9]/);
    expect(metrics).toMatch(/tether_delivery_pushes_total\{kind="message",path="fallback"\} [1-9]/);
    expect(metrics).toMatch(/tether_delivery_pushes_total\{kind="message",path="direct"\} [1-9]/);
    expect(metrics).toMatch(/tether_delivery_acks_total\{transport="socketio"\} [1-9]/);
    expect(metrics).toMatch(/tether_delivery_first_ack_seconds_count\{kind="notification"\} [1-9]/);
    expect(metrics).toMatch(/tether_delivery_pushes_avoided_total\{kind="message"\} [1-9]/);
  }, 30_000);
});

describe('acknowledged delivery when the pod that waits is killed', () => {
  const expo = new FakeExpo();
  const sockets: Socket[] = [];
  let a: Pod;
  let b: Pod;

  beforeAll(async () => {
    await expo.start();
    const env = { EXPO_PUSH_URL: expo.url, DELIVERY_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS) };
    [a, b] = await Promise.all([startPod(env), startPod(env)]);
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await stopPods([a, b]);
    await expo.stop();
  }, 30_000);

  it('still pushes the frozen recipient from the other pod after the timeout', async () => {
    const user = (name: string) => `${name}-k`;
    const phone = `ExponentPushToken[lee-${run}]`;
    await call(b.url, await token(user('lee')), 'POST', '/devices/register', { token: phone, platform: 'android' });
    const id = (await call(b.url, await token(user('max')), 'POST', '/conversations', { type: 'direct', participantIds: [user('lee')] }))
      .id;
    const frozen = io(`${b.url}/realtime`, {
      transports: ['websocket'],
      auth: { token: await token(user('lee')), ack: true },
      forceNew: true,
      reconnection: false,
    });
    sockets.push(frozen);
    await new Promise<void>((resolve) => frozen.once('session', () => resolve()));

    // Sent through A, which registers the wait as it publishes, then dies before the timeout.
    const message = await call<{ id: string }>(a.url, await token(user('max')), 'POST', `/conversations/${id}/messages`, {
      content: 'still there?',
    });
    await killPod(a);
    const pushed = () => expo.sendRequests.flatMap((r) => r.messages).filter((m) => m.to === phone);
    await eventually(() => pushed().length > 0, { timeoutMs: ACK_TIMEOUT_MS + 8000, what: 'the fallback push from the surviving pod' });
    expect(pushed()[0].data).toMatchObject({ type: 'message', messageId: message.id });
    await sleep(1000);
    expect(pushed()).toHaveLength(1);
  }, 30_000);
});
