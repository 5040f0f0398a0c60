import { memoryStorage } from '../client/src';
import { eventually, sleep, startTcpRouter, TcpRouter } from '../tools/scratch';
import { accessToken, broadcast, killPod, Pod, startPod, stopPods } from './support/pods';
import { freshTenant } from './support/sync';
import { Clients, waitForState } from './support/tether';

// The SDK against two app processes behind a small load balancer. A tiny channel log (10 events,
// trimmed by whole stream nodes of 100) lets the gap test outrun it; the other tests stay far below.
const POD_ENV = { REALTIME_LOG_MAX_LENGTH: '10', REALTIME_POD_TIMEOUT_MS: '3000', REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200' };

const alive = (pod: Pod) => pod.proc.child.exitCode === null && pod.proc.child.signalCode === null;

describe('the client across pods', () => {
  let a: Pod;
  let b: Pod;
  const extra: Pod[] = [];
  const routers: TcpRouter[] = [];
  const clients = new Clients();

  beforeAll(async () => {
    [a, b] = await Promise.all([startPod(POD_ENV), startPod(POD_ENV)]);
  }, 60000);
  afterAll(async () => {
    clients.closeAll();
    await Promise.all(routers.map((r) => r.close()));
    await stopPods([a, b, ...extra]);
  }, 30000);

  const router = async (ports: number[]) => {
    const r = await startTcpRouter(ports);
    routers.push(r);
    return r;
  };

  /** A reader of `announcements` of tenant `tid` through `url`: what it received, gaps, subscribe acks. */
  const reader = (url: string, tid: string, storage = memoryStorage()) => {
    const tether = clients.make({ url, token: () => accessToken(tid, 'reader'), transports: ['websocket'], storage });
    const sub = tether.subscribe('announcements');
    const got: unknown[] = [];
    const seen = { gaps: 0, subscribed: 0 };
    sub.on('announcement:new', (payload: { n: unknown }) => got.push(payload.n));
    sub.on('gap', () => seen.gaps++);
    sub.on('subscribed', () => seen.subscribed++);
    return { tether, sub, got, seen };
  };

  it('reconnects to pod B after pod A is SIGKILLed and receives exactly the events it missed, once and in order', async () => {
    const tid = freshTenant('failover');
    const lb = await router([a.port, b.port]);
    const { tether, sub, got, seen } = reader(lb.url, tid);
    await waitForState(tether, 'connected');
    await eventually(() => seen.subscribed === 1, { what: 'subscribed' });

    for (const n of [1, 2, 3]) await broadcast(b.url, tid, 'announcements', 'announcement:new', { n });
    await eventually(() => got.length === 3, { what: 'three live events' });

    // Pod A dies with the client's connection; nothing answers until the balancer lets it reach B.
    lb.refuse(true);
    await killPod(a);
    await eventually(() => tether.state !== 'connected', { what: 'the client noticing' });
    let last = '';
    for (const n of [4, 5, 6, 7, 8]) last = await broadcast(b.url, tid, 'announcements', 'announcement:new', { n });
    lb.route([b.port]);
    lb.refuse(false);

    await waitForState(tether, 'connected');
    await eventually(() => seen.subscribed === 2, { what: 'subscribed again' });
    await eventually(() => got.length === 8, { what: 'the missed events' });
    expect(sub.offset).toBe(last);
    for (const n of [9, 10]) last = await broadcast(b.url, tid, 'announcements', 'announcement:new', { n });
    await eventually(() => got.length >= 10, { what: 'live events after the failover' });
    await sleep(300);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(seen.gaps).toBe(0);
    expect(sub.offset).toBe(last);
    expect(lb.connections).toBeGreaterThanOrEqual(2);
  }, 30000);

  it('loses and repeats nothing when a pod is SIGKILLed while a publisher keeps going', async () => {
    const tid = freshTenant('churn');
    const doomed = await startPod(POD_ENV);
    extra.push(doomed);
    const survivor = [a, b].find(alive)!;
    const lb = await router([doomed.port, survivor.port]);
    const { tether, got, seen } = reader(lb.url, tid);
    await waitForState(tether, 'connected');
    await eventually(() => seen.subscribed === 1, { what: 'subscribed' });

    let publishing = true;
    let n = 0;
    const publisher = (async () => {
      while (publishing) {
        await broadcast(survivor.url, tid, 'announcements', 'announcement:new', { n: ++n });
        await sleep(15);
      }
    })();
    await sleep(400);
    await killPod(doomed);
    await eventually(() => seen.subscribed === 2, { what: 'subscribed on the survivor', timeoutMs: 10_000 });
    await sleep(400);
    publishing = false;
    await publisher;
    await eventually(() => got.length >= n, { what: `all ${n} events` });
    await sleep(300);
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(seen.gaps).toBe(0);
  }, 30000);

  it('recovers the user’s own channel (subscribed explicitly) after a reconnect, with no duplicate', async () => {
    const tid = freshTenant('userchannel');
    const pod = [a, b].find(alive)!;
    const lb = await router([pod.port]);
    const tether = clients.make({ url: lb.url, token: () => accessToken(tid, 'me'), transports: ['websocket'] });
    const sub = tether.subscribe('user:me');
    const got: number[] = [];
    const everywhere: number[] = [];
    sub.on('notification:new', (payload: { n: number }) => got.push(payload.n));
    tether.onEvent('notification:new', (payload: { n: number }) => everywhere.push(payload.n));
    let subscribed = 0;
    sub.on('subscribed', () => subscribed++);
    await eventually(() => subscribed === 1, { what: 'subscribed' });
    await broadcast(pod.url, tid, 'user:me', 'notification:new', { n: 1 });
    await eventually(() => got.length === 1, { what: 'the first notification' });

    lb.refuse(true);
    lb.cut();
    await eventually(() => tether.state !== 'connected', { what: 'the client noticing' });
    for (const n of [2, 3]) await broadcast(pod.url, tid, 'user:me', 'notification:new', { n });
    // A publisher keeps going while it reconnects: the socket is in its user room from the handshake on.
    let publishing = true;
    let n = 3;
    const publisher = (async () => {
      while (publishing) {
        await broadcast(pod.url, tid, 'user:me', 'notification:new', { n: ++n });
        await sleep(20);
      }
    })();
    lb.refuse(false);
    await eventually(() => subscribed === 2, { what: 'subscribed again' });
    await sleep(300);
    publishing = false;
    await publisher;
    await eventually(() => got.length >= n, { what: `all ${n} notifications` });
    await sleep(300);
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(everywhere).toEqual(got);
  }, 30000);

  it('emits gap when the log was trimmed past its offset, then goes on live from the newest offset', async () => {
    const tid = freshTenant('gap');
    const pod = [a, b].find(alive)!;
    const lb = await router([pod.port]);
    const { tether, sub, got, seen } = reader(lb.url, tid);
    await waitForState(tether, 'connected');
    await eventually(() => seen.subscribed === 1, { what: 'subscribed' });
    await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n: 0 });
    await eventually(() => got.length === 1, { what: 'the first event' });

    // Away while 250 events pass through a log that keeps about 10 to 100.
    lb.refuse(true);
    lb.cut();
    await eventually(() => tether.state !== 'connected', { what: 'the client noticing' });
    for (let i = 0; i < 10; i++)
      await Promise.all(
        Array.from({ length: 25 }, (_, k) => broadcast(pod.url, tid, 'announcements', 'announcement:new', { n: 1 + i * 25 + k })),
      );
    lb.refuse(false);
    await eventually(() => seen.gaps === 1, { what: 'gap', timeoutMs: 10_000 });
    await waitForState(tether, 'connected');
    const after = await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n: 'after' });
    await eventually(() => got.length === 2, { what: 'the live event after the gap' });
    expect(got).toEqual([0, 'after']);
    expect(sub.offset).toBe(after);

    // The gap moved the offset to the present: the next reconnect recovers normally.
    lb.refuse(true);
    lb.cut();
    await eventually(() => tether.state !== 'connected', { what: 'the client noticing' });
    for (const n of ['x', 'y']) await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n });
    lb.refuse(false);
    await eventually(() => got.length === 4, { what: 'the events missed the second time' });
    await sleep(200);
    expect(got).toEqual([0, 'after', 'x', 'y']);
    expect(seen.gaps).toBe(1);
  }, 40000);

  it('a restarted app (a new client on the same storage) recovers from its persisted offsets', async () => {
    const tid = freshTenant('restart');
    const pod = [a, b].find(alive)!;
    const storage = memoryStorage();
    const before = reader(pod.url, tid, storage);
    await eventually(() => before.seen.subscribed === 1, { what: 'subscribed' });
    await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n: 1 });
    await eventually(() => before.got.length === 1, { what: 'the first event' });
    before.tether.close();

    for (const n of [2, 3, 4]) await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n });
    const after = reader(pod.url, tid, storage);
    await eventually(() => after.seen.subscribed === 1, { what: 'subscribed after the restart' });
    await eventually(() => after.got.length === 3, { what: 'the events missed while closed' });
    await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n: 5 });
    await eventually(() => after.got.length === 4, { what: 'a live event' });
    await sleep(200);
    expect(after.got).toEqual([2, 3, 4, 5]);
    expect(after.seen.gaps).toBe(0);

    // close() and connect() on the same client: the same.
    after.tether.close();
    await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n: 6 });
    after.tether.connect();
    await eventually(() => after.got.length === 5, { what: 'the event missed while closed' });
    await broadcast(pod.url, tid, 'announcements', 'announcement:new', { n: 7 });
    await eventually(() => after.got.length === 6, { what: 'a live event after connect()' });
    await sleep(200);
    expect(after.got).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('follows presence again on the pod it fails over to', async () => {
    const tid = freshTenant('refollow');
    const doomed = await startPod(POD_ENV);
    extra.push(doomed);
    const survivor = [a, b].find(alive)!;
    const lb = await router([doomed.port, survivor.port]);
    const watcher = clients.make({ url: lb.url, token: () => accessToken(tid, 'watcher'), transports: ['websocket'] });
    const updates: { userId: string; status: string }[] = [];
    watcher.presence.on('update', (u: { userId: string; status: string }) => updates.push(u));
    const sessions: unknown[] = [];
    watcher.on('session', (session: unknown) => sessions.push(session));
    await waitForState(watcher, 'connected');
    await watcher.presence.follow(['friend']);
    const friend = clients.make({ url: survivor.url, token: () => accessToken(tid, 'friend') });
    await eventually(() => updates.some((u) => u.status === 'online'), { what: 'friend online' });

    await killPod(doomed);
    await eventually(() => sessions.length === 2, { what: 'a session on the survivor', timeoutMs: 10_000 });
    const seen = updates.length;
    friend.close();
    await eventually(() => updates.slice(seen).some((u) => u.userId === 'friend' && u.status === 'offline'), {
      what: 'friend offline, told after the failover',
    });
  }, 30000);
});
