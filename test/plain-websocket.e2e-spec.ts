import { createConnection } from 'node:net';
import request from 'supertest';
import { signDevToken } from '../src/core/auth/dev-token';
import { freePort, NodeProcess, sleep, spawnApp, waitReady } from '../tools/scratch';
import { broadcast } from './support/broadcast';
import { openPlain, PlainClient } from './support/plain-ws';
import { ClientSocket, connect, next, record, request as ask } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

describe('plain WebSocket endpoint (/ws, /messages/subscribe)', () => {
  let t: TestApp;
  const open: (PlainClient | ClientSocket)[] = [];
  let n = 0;
  const freshTenant = () => `plain${Date.now().toString(36)}${n++}`;
  const plain = async (claims: { sub?: string; tid?: string; roles?: string[] }, opts: Parameters<typeof openPlain>[1] = {}) => {
    const c = await openPlain(t.url, { token: await t.token(claims), ...opts });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startTestApp({ REALTIME_PRESENCE_OFFLINE_DELAY_MS: '100' });
  });
  afterAll(async () => {
    for (const c of open) {
      if ('ws' in c) c.ws.terminate();
      else c.close();
    }
    await t.close();
  });

  it('authenticates from the token query or the Authorization header, on both paths, and says who the client is', async () => {
    const tid = freshTenant();
    for (const [path, header] of [
      ['/ws', false],
      ['/messages/subscribe', true],
    ] as const) {
      const c = await plain({ sub: 'ana', tid }, { path, header });
      const hello = await c.next((f) => f.type === 'connected');
      expect(hello).toMatchObject({ type: 'connected', userId: 'ana', tenantId: tid, expiresAt: expect.any(String) });
    }
  });

  it('refuses a missing or bad token with an error frame and close code 4401', async () => {
    for (const token of [undefined, 'garbage']) {
      const c = await openPlain(t.url, { token });
      const error = await c.next((f) => f.type === 'error');
      expect(error.error.code).toBe(token ? 'token_invalid' : 'token_missing');
      expect((await c.closed).code).toBe(4401);
    }
  });

  it('answers 404 to an upgrade on an unknown path', async () => {
    const port = new URL(t.url).port;
    const answer = await new Promise<string>((resolve) => {
      const s = createConnection(Number(port), '127.0.0.1', () =>
        s.write(
          'GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
      );
      let text = '';
      s.on('data', (d) => (text += d));
      s.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1.1 404/);
  });

  it('subscribes through the channel policies and receives events as {type: event, channel, event, data, offset}', async () => {
    const tid = freshTenant();
    const c = await plain({ sub: 'ben', tid });
    const ack = await c.request({ type: 'subscribe', channels: ['announcements', 'user:someone-else', 'nope'] });
    expect(ack).toMatchObject({ type: 'reply', event: 'subscribe' });
    expect(ack.data.subscribed).toEqual(['announcements']);
    expect(ack.data.rejected.map((r: { channel: string }) => r.channel).sort()).toEqual(['nope', 'user:someone-else']);
    const offset = await broadcast(t, tid, 'announcements', 'announcement:new', { title: 'hi' });
    const event = await c.next((f) => f.type === 'event' && f.event === 'announcement:new');
    expect(event).toEqual({ type: 'event', event: 'announcement:new', channel: 'announcements', data: { title: 'hi' }, offset });
    // Another tenant's announcement never arrives.
    await broadcast(t, freshTenant(), 'announcements', 'announcement:new', { title: 'other tenant' });
    await sleep(200);
    expect(c.frames.filter((f) => f.data?.title === 'other tenant')).toEqual([]);
    const left = await c.request({ type: 'unsubscribe', channels: ['announcements'] });
    expect(left.data).toEqual({ unsubscribed: ['announcements'] });
  });

  it('answers ping frames, reports malformed frames and unknown events, never closing the connection', async () => {
    const c = await plain({ sub: 'cy', tid: freshTenant() });
    c.ws.send(JSON.stringify({ type: 'ping', id: 7 }));
    expect(await c.next((f) => f.type === 'pong')).toMatchObject({ id: 7, time: expect.any(String) });
    c.ws.send('not json');
    expect((await c.next((f) => f.type === 'error')).error.code).toBe('invalid_frame');
    for (const type of ['dance', 'constructor', '__proto__', 'toString'])
      expect((await c.request({ type })).data).toEqual({ error: { code: 'unknown_event', message: expect.any(String) } });
    expect((await c.request({ type: 'subscribe', channels: 'announcements' })).data.error.code).toBe('invalid_payload');
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it('recovers missed events with since after reconnecting: exactly those, in order, then live ones', async () => {
    const tid = freshTenant();
    const first = await plain({ sub: 'dee', tid });
    const ack = await first.request({ type: 'subscribe', channels: ['announcements'] });
    const since = ack.data.offsets.announcements;
    first.ws.close();
    await first.closed;
    for (let i = 1; i <= 3; i++) await broadcast(t, tid, 'announcements', 'announcement:new', { i });
    const again = await plain({ sub: 'dee', tid });
    const resumed = await again.request({ type: 'subscribe', channels: ['announcements'], since: { announcements: since } });
    expect(resumed.data.recovered).toEqual({ announcements: true });
    await broadcast(t, tid, 'announcements', 'announcement:new', { i: 4 });
    await again.next((f) => f.data?.i === 4);
    expect(again.frames.filter((f) => f.type === 'event').map((f) => f.data.i)).toEqual([1, 2, 3, 4]);
  });

  it('relays typing between plain and Socket.IO clients of a channel, without echo (seed 002 dotted names too)', async () => {
    const tid = freshTenant();
    const c = await plain({ sub: 'eve', tid });
    await c.request({ type: 'subscribe', channels: ['announcements'] });
    const io = await connect(t.url, await t.token({ sub: 'fay', tid }));
    open.push(io);
    await ask(io, 'subscribe', { channels: ['announcements'] });
    const started = next<any>(io, 'typing:start');
    expect((await c.request({ type: 'typing.start', channel: 'announcements' })).data).toEqual({ ok: true });
    expect((await started)[0]).toEqual({ channel: 'announcements', userId: 'eve' });
    await ask(io, 'typing:start', { channel: 'announcements' });
    const relayed = await c.next((f) => f.type === 'event' && f.event === 'typing:start');
    expect(relayed).toMatchObject({ channel: 'announcements', data: { channel: 'announcements', userId: 'fay' } });
    expect(c.frames.filter((f) => f.type === 'event' && f.data.userId === 'eve')).toEqual([]);
  });

  it('counts a plain client in presence like any socket', async () => {
    const tid = freshTenant();
    const watcher = await connect(t.url, await t.token({ sub: 'gus', tid }));
    open.push(watcher);
    await ask(watcher, 'subscribe', { channels: ['presence:hal'] });
    const seen = record(watcher);
    const c = await plain({ sub: 'hal', tid });
    await c.next((f) => f.type === 'connected');
    await next(watcher, 'presence:update');
    c.ws.close();
    await next(watcher, 'presence:update', 5000);
    expect(seen.filter(([e]) => e === 'presence:update').map(([, p]) => p.status)).toEqual(['online', 'offline']);
  });

  describe('limits', () => {
    let limited: TestApp;
    beforeAll(async () => {
      limited = await startTestApp({ REALTIME_EVENTS_PER_SECOND: '2', REALTIME_MAX_MESSAGE_BYTES: '2048', REALTIME_TOKEN_GRACE_MS: '200' });
    });
    afterAll(() => limited.close());

    it('rate limits frames with an error reply, and closes on an oversized frame', async () => {
      const c = await openPlain(limited.url, { token: await limited.token({ sub: `burst${Date.now()}` }) });
      open.push(c);
      const replies = [];
      for (let i = 0; i < 6; i++) replies.push(await c.request({ type: 'subscribe', channels: ['announcements'] }));
      expect(replies.some((r) => r.data?.error?.code === 'rate_limited')).toBe(true);
      c.ws.send(JSON.stringify({ type: 'subscribe', channels: ['x'.repeat(4096)] }));
      expect((await c.closed).code).toBe(1009);
    });

    it('warns before the token expires, then says auth:expired and closes with 4000', async () => {
      const c = await openPlain(limited.url, { token: await limited.token({ sub: `brief${Date.now()}` }, 2) });
      open.push(c);
      expect(await c.next((f) => f.event === 'auth:expiring', 3000)).toMatchObject({ data: { code: 'token_expiring' } });
      expect(await c.next((f) => f.event === 'auth:expired', 5000)).toMatchObject({ data: { code: 'token_expired' } });
      expect((await c.closed).code).toBe(4000);
    });
  });
});

describe('plain WebSocket across pods', () => {
  const tid = `plainpods${Date.now().toString(36)}`;
  const token = (sub: string, roles = ['MEMBER']) => signDevToken(process.env.MOBILE_JWT_SECRET!, { sub, tid, roles });
  const pods: { url: string; proc: NodeProcess }[] = [];
  const clients: PlainClient[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const proc = spawnApp({ LOG_LEVEL: 'silent', PORT: String(port), REALTIME_DRAIN_MS: '3000' });
      pods.push({ url: `http://127.0.0.1:${port}`, proc });
    }
    await Promise.all(pods.map((p) => waitReady(`${p.url}/health/ready`)));
  }, 60000);
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    for (const p of pods) p.proc.child.kill('SIGTERM');
    await Promise.all(pods.map((p) => p.proc.exited));
  }, 30000);

  it('delivers an event published on pod A to a plain client on pod B, and recovers after a reconnect to A', async () => {
    const [a, b] = pods;
    const onB = await openPlain(b.url, { token: await token('ivy') });
    clients.push(onB);
    const ack = await onB.request({ type: 'subscribe', channels: ['announcements'] });
    const publish = async (url: string, data: object) => {
      const res = await request(url)
        .post('/api/mobile/v1/admin/broadcast')
        .set('Authorization', `Bearer ${await token('backend', ['SERVICE'])}`)
        .send({ channel: 'announcements', event: 'announcement:new', data });
      expect(res.status).toBe(202);
    };
    await publish(a.url, { n: 1 });
    const live = await onB.next((f) => f.type === 'event' && f.data.n === 1);
    onB.ws.close();
    await onB.closed;
    await publish(a.url, { n: 2 });
    await publish(b.url, { n: 3 });
    const onA = await openPlain(a.url, { token: await token('ivy'), path: '/messages/subscribe' });
    clients.push(onA);
    const resumed = await onA.request({ type: 'subscribe', channels: ['announcements'], since: { announcements: live.offset } });
    expect(resumed.data.recovered).toEqual({ announcements: true });
    expect(onA.frames.filter((f) => f.type === 'event').map((f) => f.data.n)).toEqual([2, 3]);
    expect(ack.data.subscribed).toEqual(['announcements']);
  });

  it('drains plain clients on SIGTERM (they see the transport drop and reconnect elsewhere), refusing new ones', async () => {
    const b = pods[1];
    // Enough clients that the drain runs in several batches, over about REALTIME_DRAIN_MS (3 s).
    const drained: PlainClient[] = [];
    for (let i = 0; i < 8; i++) drained.push(await openPlain(b.url, { token: await token(`jay${i}`) }));
    clients.push(...drained);
    await Promise.all(drained.map((c) => c.next((f) => f.type === 'connected')));
    b.proc.child.kill('SIGTERM');
    const first = await Promise.race(drained.map((c) => c.closed));
    expect(first.code).toBe(1006); // terminated at the transport, not a 44xx refusal: reconnect
    // While the others are still being drained, the pod takes no new connection.
    await expect(openPlain(b.url, { token: await token('jay') })).rejects.toThrow();
    expect(drained.every((c) => c.ws.readyState !== c.ws.OPEN)).toBe(false);
    for (const c of drained) expect((await c.closed).code).toBe(1006);
    expect((await b.proc.exited).code).toBe(0);
  });
});
