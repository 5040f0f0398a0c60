import { eventually, HttpFaultProxy, sleep, startHttpFaultProxy } from '../tools/scratch';
import { accessToken, api, broadcast, channelToken, Pod, startPod, stopPods } from './support/pods';
import { freshTenant } from './support/sync';
import { Clients, countingToken, socketId, states, waitForState } from './support/tether';

// The SDK's connection against two app processes: tokens that expire (closed 500 ms after expiry
// without a refresh, instead of 25 s), and a proxy that blocks the socket path.
const POD_ENV = { REALTIME_TOKEN_GRACE_MS: '500', REALTIME_POD_TIMEOUT_MS: '3000', REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200' };

describe('the client connection', () => {
  let a: Pod;
  let b: Pod;
  const extra: Pod[] = [];
  const proxies: HttpFaultProxy[] = [];
  const clients = new Clients();

  beforeAll(async () => {
    [a, b] = await Promise.all([startPod(POD_ENV), startPod(POD_ENV)]);
  }, 60000);
  afterAll(async () => {
    clients.closeAll();
    await Promise.all(proxies.map((p) => p.close()));
    await stopPods([a, b, ...extra]);
  }, 30000);

  it('refreshes the token before it expires (auth:expiring -> auth:refresh) on the same connection', async () => {
    const tid = freshTenant('refresh');
    // A 12 s token is within the server's one-minute warning at once, and outside the SDK's own
    // reuse margin; every later token is good for an hour.
    const source = countingToken((call) => accessToken(tid, 'refresher', ['MEMBER'], call === 1 ? 12 : 3600));
    const firstExpiry = Date.now() + 12_000;
    const tether = clients.make({ url: a.url, token: source.token });
    const seen = states(tether);
    const sessions: unknown[] = [];
    tether.on('session', (session: unknown) => sessions.push(session));
    const got: unknown[] = [];
    tether.onEvent('notification:new', (payload: { n: unknown }) => got.push(payload.n));
    await waitForState(tether, 'connected');
    const id = socketId(tether);
    expect(id).toEqual(expect.any(String));
    await eventually(() => source.calls() >= 2, { what: 'a second token() call', timeoutMs: 5000 });

    // Past the first token's expiry, the grace period and a sweep: a socket still on it is closed by now.
    await sleep(firstExpiry + 500 + 2000 - Date.now());
    expect(tether.state).toBe('connected');
    expect(socketId(tether)).toBe(id);
    expect(sessions).toHaveLength(1);
    expect(seen.filter((s) => s !== 'connecting' && s !== 'connected')).toEqual([]);
    expect(seen.filter((s) => s === 'connected')).toHaveLength(1);
    // The same connection still delivers.
    await broadcast(b.url, tid, 'user:refresher', 'notification:new', { n: 1 });
    await eventually(() => got.length === 1, { what: 'an event after the refresh' });
    expect(sessions).toHaveLength(1);
    expect(socketId(tether)).toBe(id);
    expect(source.calls()).toBe(2);
  }, 30000);

  it('after auth:expired (the refresh failed) asks token() once, reconnects and recovers what it missed', async () => {
    const tid = freshTenant('authexpired');
    // A 3 s token; the refresh a minute ahead finds the identity provider down; then it is back.
    const source = countingToken(async (call) => {
      if (call === 2) throw new Error('identity provider unreachable');
      return accessToken(tid, 'lapsed', ['MEMBER'], call === 1 ? 3 : 3600);
    });
    const tether = clients.make({ url: a.url, token: source.token });
    const errors: unknown[] = [];
    tether.on('error', (err: unknown) => errors.push(err));
    const sessions: unknown[] = [];
    tether.on('session', (session: unknown) => sessions.push(session));
    const sub = tether.subscribe('announcements');
    const got: number[] = [];
    sub.on('announcement:new', (payload: { n: number }) => got.push(payload.n));
    let subscribed = 0;
    sub.on('subscribed', () => subscribed++);
    await waitForState(tether, 'connected');
    await eventually(() => subscribed === 1, { what: 'subscribed' });
    const first = socketId(tether);
    await eventually(() => source.calls() === 2, { what: 'the failed refresh', timeoutMs: 5000 });
    // Events keep coming around the server's close (3 s + 500 ms grace) and the reconnect.
    for (let n = 1; n <= 12; n++) {
      await broadcast(b.url, tid, 'announcements', 'announcement:new', { n });
      await sleep(400);
    }
    await eventually(() => sessions.length === 2 && subscribed === 2, { what: 'a second session', timeoutMs: 10_000 });
    await eventually(() => got.length >= 12, { what: 'every event' });
    await sleep(300);
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(socketId(tether)).not.toBe(first);
    expect(tether.state).toBe('connected');
    expect(source.calls()).toBe(3);
    expect(errors).toEqual([expect.objectContaining({ message: 'identity provider unreachable' })]);
  }, 30000);

  it('asks token() exactly once more after the server refuses an expired token, and connects', async () => {
    const tid = freshTenant('expired');
    // Expired a minute ago: beyond the server's clock tolerance (5 s).
    const source = countingToken((call) => accessToken(tid, 'late', ['MEMBER'], call === 1 ? -60 : 3600));
    const tether = clients.make({ url: a.url, token: source.token });
    const sessions: unknown[] = [];
    tether.on('session', (session: unknown) => sessions.push(session));
    await waitForState(tether, 'connected');
    await sleep(1000);
    expect(source.calls()).toBe(2);
    expect(sessions).toHaveLength(1);
    expect(tether.state).toBe('connected');
  }, 20000);

  it('surfaces a token_invalid refusal and stops retrying until connect() is called again', async () => {
    const tid = freshTenant('invalid');
    const source = countingToken(async (call) => (call === 1 ? 'not-a-jwt' : accessToken(tid, 'fixed')));
    const tether = clients.make({ url: a.url, token: source.token });
    const errors: { code?: string }[] = [];
    tether.on('error', (err) => errors.push(err as { code?: string }));
    await waitForState(tether, 'offline');
    expect(errors.map((e) => e.code)).toEqual(['token_invalid']);
    await sleep(1000);
    expect(source.calls()).toBe(1);
    expect(tether.state).toBe('offline');
    // The app signs the user in again.
    tether.connect();
    await waitForState(tether, 'connected');
    expect(source.calls()).toBe(2);
  });

  it('waits out a rate_limited refusal instead of hammering the server', async () => {
    const tid = freshTenant('ratelimited');
    const strict = await startPod({ ...POD_ENV, REALTIME_CONNECTS_PER_MINUTE_PER_USER: '1' });
    extra.push(strict);
    // Both connects in one of the limiter's one-minute windows.
    if (Date.now() % 60_000 > 56_000) await sleep(60_500 - (Date.now() % 60_000));
    const first = clients.make({ url: strict.url, token: () => accessToken(tid, 'eager') });
    await waitForState(first, 'connected');
    const source = countingToken(() => accessToken(tid, 'eager'));
    const second = clients.make({ url: strict.url, token: source.token });
    const errors: { code?: string; retryAfterMs?: number }[] = [];
    second.on('error', (err) => errors.push(err as { code?: string; retryAfterMs?: number }));
    await eventually(() => errors.length === 1, { what: 'the refusal' });
    expect(errors[0]).toMatchObject({ code: 'rate_limited', retryAfterMs: expect.any(Number) });
    const calls = source.calls();
    // Until the window ends (at most a minute), no new attempt: none within the next two seconds
    // (less when the window ends sooner).
    await sleep(Math.min(2000, errors[0].retryAfterMs! - 200));
    expect(source.calls()).toBe(calls);
    expect(errors).toHaveLength(1);
    expect(second.state).not.toBe('connected');
  });

  it('asks a host channel’s token() once more when the server says token_expired, and subscribes', async () => {
    const tid = freshTenant('hosttoken');
    const channel = 'booking:9';
    const source = countingToken((call) => channelToken(tid, 'guest', channel, call === 1 ? -60 : 300));
    const tether = clients.make({ url: a.url, token: () => accessToken(tid, 'guest') });
    const sub = tether.subscribe(channel, { token: source.token });
    const rejected: string[] = [];
    sub.on('rejected', (reason: string) => rejected.push(reason));
    const got: unknown[] = [];
    sub.on('booking:updated', (payload: { n: unknown }) => got.push(payload.n));
    await eventually(() => sub.state === 'subscribed', { what: 'subscribed' });
    await broadcast(b.url, tid, channel, 'booking:updated', { n: 1 });
    await eventually(() => got.length === 1, { what: 'the host’s event' });
    expect(source.calls()).toBe(2);
    expect(rejected).toEqual([]);
  });

  it('closes the socket when the app goes to the background and recovers what it missed in the foreground', async () => {
    const tid = freshTenant('appstate');
    let setForeground: (active: boolean) => void = () => undefined;
    const appState = {
      subscribe: (listener: (active: boolean) => void) => {
        setForeground = listener;
        return () => undefined;
      },
    };
    const tether = clients.make({ url: a.url, token: () => accessToken(tid, 'sleeper'), appState });
    const sub = tether.subscribe('announcements');
    const got: number[] = [];
    sub.on('announcement:new', (payload: { n: number }) => got.push(payload.n));
    let subscribed = 0;
    sub.on('subscribed', () => subscribed++);
    await waitForState(tether, 'connected');
    await eventually(() => subscribed === 1, { what: 'subscribed' });
    const watcher = await accessToken(tid, 'watcher');
    const presence = async () => (await api(b.url, watcher, 'GET', '/presence?userIds=sleeper')).body.presence[0].status;
    await eventually(presence, { until: (s) => s === 'online', what: 'online', everyMs: 100 });

    setForeground(false);
    expect(tether.state).toBe('offline');
    // The server sees the socket go (offline after the 200 ms debounce), not a minute later.
    await eventually(presence, { until: (s) => s === 'offline', what: 'offline', everyMs: 100 });
    for (const n of [1, 2, 3]) await broadcast(b.url, tid, 'announcements', 'announcement:new', { n });
    await sleep(300);
    expect(got).toEqual([]);

    setForeground(true);
    await waitForState(tether, 'connected');
    await eventually(() => got.length === 3, { what: 'the events missed in the background' });
    await broadcast(b.url, tid, 'announcements', 'announcement:new', { n: 4 });
    await eventually(() => got.length === 4, { what: 'a live event' });
    expect(got).toEqual([1, 2, 3, 4]);
  });

  it('follows presence, channel members and typing of a user on the other pod', async () => {
    const tid = freshTenant('presence');
    const conversation = (
      await api(a.url, await accessToken(tid, 'alice'), 'POST', '/conversations', { type: 'direct', participantIds: ['bob'] })
    ).body.id as string;
    const channel = `conversation:${conversation}`;
    const alice = clients.make({ url: a.url, token: () => accessToken(tid, 'alice') });
    const updates: { userId: string; status: string }[] = [];
    alice.presence.on('update', (u: { userId: string; status: string }) => updates.push(u));
    const sub = alice.subscribe(channel);
    const typing: unknown[] = [];
    sub.on('typing:start', (payload: unknown) => typing.push(payload));
    await eventually(() => sub.state === 'subscribed', { what: 'alice subscribed' });
    expect(sub.members).toEqual(['alice']);
    expect(await alice.presence.follow(['bob'])).toEqual([{ userId: 'bob', status: 'offline', lastSeen: null }]);

    const bob = clients.make({ url: b.url, token: () => accessToken(tid, 'bob') });
    const bobSub = bob.subscribe(channel);
    await eventually(() => [...sub.members].sort().join() === 'alice,bob', { what: 'bob among the members' });
    await eventually(() => updates.some((u) => u.userId === 'bob' && u.status === 'online'), { what: 'bob online' });
    expect((await alice.presence.of(['bob', 'nobody'])).map((p) => [p.userId, p.status])).toEqual([
      ['bob', 'online'],
      ['nobody', 'offline'],
    ]);
    await eventually(() => bobSub.state === 'subscribed', { what: 'bob subscribed' });
    bobSub.typing(true);
    await eventually(() => typing.length === 1, { what: 'typing' });
    expect(typing).toEqual([{ channel, userId: 'bob' }]);

    bob.close();
    await eventually(() => sub.members.join() === 'alice', { what: 'bob gone from the members' });
    await eventually(() => updates[updates.length - 1]?.status === 'offline', { what: 'bob offline' });
    expect(updates[updates.length - 1]).toEqual({ userId: 'bob', status: 'offline', lastSeen: expect.any(String) });
  });

  it('polls GET /realtime/events while the socket path is blocked, then switches back to the socket with no duplicate and no gap', async () => {
    const tid = freshTenant('polling');
    const gate = await startHttpFaultProxy(a.port);
    proxies.push(gate);
    const tether = clients.make({
      url: gate.url,
      token: () => accessToken(tid, 'poller'),
      transports: ['websocket', 'polling'],
      polling: { intervalMs: 300, afterFailures: 2 },
    });
    const seen = states(tether);
    const sub = tether.subscribe('announcements');
    const got: number[] = [];
    let gaps = 0;
    sub.on('announcement:new', (payload: { n: number }) => got.push(payload.n));
    sub.on('gap', () => gaps++);
    let subscribed = 0;
    sub.on('subscribed', () => subscribed++);
    await waitForState(tether, 'connected');
    await eventually(() => subscribed === 1, { what: 'subscribed' });
    await broadcast(b.url, tid, 'announcements', 'announcement:new', { n: 1 });
    await eventually(() => got.length === 1, { what: 'the first event over the socket' });

    // The socket path is blocked (WebSocket upgrades and long-polling alike); /api still answers.
    gate.blockSocketPath(true);
    await waitForState(tether, 'polling', 15_000);
    const polls = () => gate.requests.filter((r) => r.url.startsWith('/api/mobile/v1/realtime/events?')).length;
    for (const n of [2, 3, 4, 5]) {
      await broadcast(b.url, tid, 'announcements', 'announcement:new', { n });
      await sleep(100);
    }
    await eventually(() => got.length === 5, { what: 'events through polling', timeoutMs: 5000 });
    expect(tether.state).toBe('polling');
    expect(polls()).toBeGreaterThan(0);
    expect(got).toEqual([1, 2, 3, 4, 5]);

    // The path opens again while a publisher keeps going: the switch loses and repeats nothing.
    let publishing = true;
    let n = 6;
    const publisher = (async () => {
      while (publishing) {
        await broadcast(b.url, tid, 'announcements', 'announcement:new', { n: n++ });
        await sleep(40);
      }
    })();
    await sleep(200);
    gate.blockSocketPath(false);
    await waitForState(tether, 'connected', 15_000);
    await sleep(600);
    publishing = false;
    await publisher;
    const total = n - 1;
    await eventually(() => got.length >= total, { what: `all ${total} events`, timeoutMs: 5000 });
    await sleep(800);
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(gaps).toBe(0);
    expect(seen).toContain('polling');
    expect(seen[seen.length - 1]).toBe('connected');
    // Back on the socket, polling stopped.
    const pollsNow = polls();
    await sleep(1000);
    expect(polls()).toBe(pollsNow);
  }, 45000);

  it('loses and repeats nothing while a publisher runs through two socket -> polling -> socket switches', async () => {
    const tid = freshTenant('flipflop');
    const gate = await startHttpFaultProxy(a.port);
    proxies.push(gate);
    const tether = clients.make({
      url: gate.url,
      token: () => accessToken(tid, 'flipper'),
      polling: { intervalMs: 200, afterFailures: 2 },
    });
    const sub = tether.subscribe('announcements');
    const got: number[] = [];
    let gaps = 0;
    sub.on('announcement:new', (payload: { n: number }) => got.push(payload.n));
    sub.on('gap', () => gaps++);
    await waitForState(tether, 'connected');
    await eventually(() => sub.state === 'subscribed', { what: 'subscribed' });
    let publishing = true;
    let n = 0;
    const publisher = (async () => {
      while (publishing) {
        await broadcast(b.url, tid, 'announcements', 'announcement:new', { n: ++n });
        await sleep(30);
      }
    })();
    for (let round = 0; round < 2; round++) {
      await sleep(300);
      gate.blockSocketPath(true);
      await waitForState(tether, 'polling', 15_000);
      await sleep(400);
      gate.blockSocketPath(false);
      await waitForState(tether, 'connected', 15_000);
    }
    await sleep(300);
    publishing = false;
    await publisher;
    await eventually(() => got.length >= n, { what: `all ${n} events`, timeoutMs: 5000 });
    await sleep(500);
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(gaps).toBe(0);
  }, 40000);

  it('starts in polling when the socket never connects, then moves to the socket without a duplicate', async () => {
    const tid = freshTenant('pollfirst');
    const gate = await startHttpFaultProxy(a.port);
    proxies.push(gate);
    gate.blockSocketPath(true);
    const tether = clients.make({
      url: gate.url,
      token: () => accessToken(tid, 'early'),
      polling: { intervalMs: 300, afterFailures: 2 },
    });
    const sub = tether.subscribe('announcements');
    const got: number[] = [];
    sub.on('announcement:new', (payload: { n: number }) => got.push(payload.n));
    // A host channel too: polled with its subscription token in X-Channel-Token.
    const booking = tether.subscribe('booking:7', { token: () => channelToken(tid, 'early', 'booking:7') });
    const bookings: number[] = [];
    booking.on('booking:updated', (payload: { n: number }) => bookings.push(payload.n));
    await waitForState(tether, 'polling', 15_000);
    // Served by polling from the first answer on (it fixes where each channel starts), as a socket's ack would.
    await eventually(() => sub.state === 'subscribed' && booking.state === 'subscribed', { what: 'subscribed through polling' });
    for (const n of [1, 2, 3]) {
      await broadcast(b.url, tid, 'announcements', 'announcement:new', { n });
      await broadcast(b.url, tid, 'booking:7', 'booking:updated', { n });
    }
    await eventually(() => got.length === 3 && bookings.length === 3, { what: 'events through polling' });
    gate.blockSocketPath(false);
    await waitForState(tether, 'connected', 15_000);
    await eventually(() => sub.state === 'subscribed' && booking.state === 'subscribed', { what: 'subscribed over the socket' });
    for (const n of [4, 5]) {
      await broadcast(b.url, tid, 'announcements', 'announcement:new', { n });
      await broadcast(b.url, tid, 'booking:7', 'booking:updated', { n });
    }
    await eventually(() => got.length >= 5 && bookings.length >= 5, { what: 'events over the socket' });
    await sleep(700);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(bookings).toEqual([1, 2, 3, 4, 5]);
  });
});
