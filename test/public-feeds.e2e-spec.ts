import request from 'supertest';
import { eventually, sleep } from '../tools/scratch';
import { broadcast as publish } from './support/broadcast';
import { openPlain, PlainClient } from './support/plain-ws';
import { connect, next, record, request as ask, ClientSocket } from './support/sockets';
import { startTestApp, TestApp } from './support/test-app';

let tenantSeq = 0;
const freshTenant = () => `pf${Date.now().toString(36)}${tenantSeq++}`;

/** Issue 13, item 3: public host feeds (seed 004's venue channels), auto-joined channels (seed 001's activity feed). */
describe('public feeds', () => {
  let t: TestApp;
  const sockets: ClientSocket[] = [];
  const plain: PlainClient[] = [];
  const open = async (sub: string, tid: string) => {
    const s = await connect(t.url, await t.token({ sub, tid }));
    sockets.push(s);
    return s;
  };
  const openWs = async (sub: string, tid: string) => {
    const c = await openPlain(t.url, { token: await t.token({ sub, tid }) });
    plain.push(c);
    await c.next((f) => f.type === 'connected');
    return c;
  };
  const broadcast = (tid: string, channel: string, event: string, data: object) => publish(t, tid, channel, event, data);

  beforeAll(async () => {
    t = await startTestApp({
      HOST_CHANNELS: 'activity:token, booking, venue:token, venue_updates:public, promotions:public, vibe_checks:public',
      AUTO_JOIN_CHANNELS: 'activity, announcements',
    });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
    for (const c of plain.splice(0)) c.ws.close();
  });
  afterAll(() => t.close());

  describe("seed 004's venue feeds over plain WebSocket", () => {
    it("accepts the singular {type: 'subscribe', channel} frame for public names with and without an id, and unsubscribe", async () => {
      const tid = freshTenant();
      const c = await openWs('guest', tid);
      for (const channel of ['venue_updates', 'promotions:v1', 'vibe_checks:v1']) {
        const reply = await c.request({ type: 'subscribe', channel });
        expect(reply).toMatchObject({ type: 'reply', event: 'subscribe', data: { subscribed: [channel], rejected: [] } });
        expect(reply.data.offsets[channel]).toEqual(expect.any(String));
      }
      // Public is per prefix: the token-guarded venue:<id> still wants its token.
      expect((await c.request({ type: 'subscribe', channel: 'venue:7' })).data).toMatchObject({
        subscribed: [],
        rejected: [{ channel: 'venue:7', reason: 'token_required' }],
      });
      await broadcast(tid, 'venue_updates', 'venue:update', { id: 'v1', name: 'Blue Bar', status: 'active' });
      await broadcast(tid, 'promotions:v1', 'promotion:new', { id: 'p1', title: 'Two for one' });
      await broadcast(tid, 'vibe_checks:v1', 'vibe_check:new', { id: 'c1', vibe: 'lively' });
      const events = () => c.frames.filter((f) => f.type === 'event');
      await eventually(() => events().length === 3);
      expect(events()).toEqual([
        expect.objectContaining({
          event: 'venue:update',
          channel: 'venue_updates',
          data: { id: 'v1', name: 'Blue Bar', status: 'active' },
        }),
        expect.objectContaining({ event: 'promotion:new', channel: 'promotions:v1', data: { id: 'p1', title: 'Two for one' } }),
        expect.objectContaining({ event: 'vibe_check:new', channel: 'vibe_checks:v1', data: { id: 'c1', vibe: 'lively' } }),
      ]);

      const left = await c.request({ type: 'unsubscribe', channel: 'promotions:v1' });
      expect(left.data).toEqual({ unsubscribed: ['promotions:v1'] });
      await broadcast(tid, 'promotions:v1', 'promotion:new', { id: 'p2' });
      await broadcast(tid, 'venue_updates', 'venue:update', { id: 'v2' });
      await eventually(() => events().length === 4);
      await sleep(100);
      expect(events().map((f) => f.data.id)).toEqual(['v1', 'p1', 'c1', 'v2']);
    });

    it('recovers what a singular frame missed with since: offset, exactly once', async () => {
      const tid = freshTenant();
      const first = await openWs('guest', tid);
      const { data } = await first.request({ type: 'subscribe', channel: 'promotions:v2' });
      first.ws.close();
      await broadcast(tid, 'promotions:v2', 'promotion:new', { id: 'missed' });
      const again = await openWs('guest', tid);
      const resumed = await again.request({ type: 'subscribe', channel: 'promotions:v2', since: data.offsets['promotions:v2'] });
      expect(resumed.data).toMatchObject({ subscribed: ['promotions:v2'], recovered: { 'promotions:v2': true } });
      await broadcast(tid, 'promotions:v2', 'promotion:new', { id: 'live' });
      await again.next((f) => f.type === 'event' && f.data.id === 'live');
      expect(again.frames.filter((f) => f.type === 'event').map((f) => f.data.id)).toEqual(['missed', 'live']);
    });

    it('refuses malformed singular frames with invalid_payload or invalid_channel, and stays open', async () => {
      const c = await openWs('guest', freshTenant());
      expect((await c.request({ type: 'subscribe', channel: 7 })).data.error.code).toBe('invalid_payload');
      expect((await c.request({ type: 'subscribe', channel: 'promotions:v1', since: 5 })).data.error.code).toBe('invalid_payload');
      expect((await c.request({ type: 'subscribe', channel: 'Venue Updates' })).data).toMatchObject({
        rejected: [{ channel: 'Venue Updates', reason: 'invalid_channel' }],
      });
      expect((await c.request({ type: 'subscribe', channel: 'nightlife' })).data).toMatchObject({
        rejected: [{ channel: 'nightlife', reason: 'unknown_channel' }],
      });
      c.ws.send(JSON.stringify({ type: 'ping', id: 'still-open' }));
      expect(await c.next((f) => f.type === 'pong' && f.id === 'still-open')).toMatchObject({ type: 'pong' });
    });

    it("is fed by the venues app's backend through POST /api/websocket, and polled with since={timestamp}", async () => {
      const tid = freshTenant();
      const since = Date.now() - 1;
      const c = await openWs('guest', tid);
      await c.request({ type: 'subscribe', channel: 'venue_updates' });
      const admin = await t.token({ sub: 'backend', tid, roles: ['SERVICE'] });
      const res = await request(t.url)
        .post('/api/websocket')
        .set('Authorization', `Bearer ${admin}`)
        .send({ action: 'broadcast', channel: 'venue_updates', data: { id: 'v9', status: 'inactive' } });
      expect(res.status).toBe(202);
      // A public exact name is kept as is (not mapped onto venue:updates).
      expect(res.body).toMatchObject({ ok: true, channel: 'venue_updates', event: 'broadcast' });
      const frame = await c.next((f) => f.type === 'event' && f.channel === 'venue_updates');
      expect(frame).toMatchObject({ event: 'broadcast', data: { id: 'v9', status: 'inactive' } });
      // Any member of the tenant may poll it, with the app's own timestamp.
      const polled = await request(t.url)
        .get('/api/mobile/v1/realtime/events')
        .query({ channel: 'venue_updates', since: String(since) })
        .set('Authorization', `Bearer ${await t.token({ sub: 'someone-else', tid })}`)
        .expect(200);
      expect(polled.body.events).toEqual([expect.objectContaining({ event: 'broadcast', data: { id: 'v9', status: 'inactive' } })]);
    });

    it('keeps tenants apart: a public feed is public within its tenant only', async () => {
      const [a, b] = [freshTenant(), freshTenant()];
      const inA = await openWs('x', a);
      const inB = await openWs('x', b);
      await inA.request({ type: 'subscribe', channel: 'venue_updates' });
      await inB.request({ type: 'subscribe', channel: 'venue_updates' });
      await broadcast(a, 'venue_updates', 'venue:update', { only: 'a' });
      await inA.next((f) => f.type === 'event');
      await sleep(150);
      expect(inB.frames.filter((f) => f.type === 'event')).toEqual([]);
    });
  });

  describe("seed 001's activity feed, joined at connect", () => {
    it('delivers activity:created to a Socket.IO client that joined nothing, and says so in its session', async () => {
      const tid = freshTenant();
      const s = connect(t.url, await t.token({ sub: 'runner', tid }));
      const socket = await s;
      sockets.push(socket);
      const [session] = await next<any>(socket, 'session');
      expect(session.channels.sort()).toEqual(['activity', 'announcements']);
      const created: unknown[] = [];
      socket.on('activity:created', (activity) => created.push(activity));
      await broadcast(tid, 'activity', 'activity:created', { id: 'a1', title: 'Sunday run' });
      await eventually(() => created.length === 1);
      expect(created[0]).toEqual({ id: 'a1', title: 'Sunday run' });
      // Another tenant's feed never arrives.
      await broadcast(freshTenant(), 'activity', 'activity:created', { id: 'elsewhere' });
      await sleep(150);
      expect(created).toHaveLength(1);
    });

    it('joins plain WebSocket clients too, lets a socket leave the feed, and keeps activity:<id> token-guarded', async () => {
      const tid = freshTenant();
      const c = await openPlain(t.url, { token: await t.token({ sub: 'walker', tid }) });
      plain.push(c);
      const hello = await c.next((f) => f.type === 'connected');
      expect(hello.channels.sort()).toEqual(['activity', 'announcements']);
      await broadcast(tid, 'activity', 'activity:created', { id: 'a2' });
      expect(await c.next((f) => f.type === 'event')).toMatchObject({ event: 'activity:created', channel: 'activity', data: { id: 'a2' } });

      const s = await open('walker', tid);
      await next(s, 'session').catch(() => undefined);
      const seen = record(s);
      expect(await ask(s, 'unsubscribe', { channels: ['activity'] })).toEqual({ unsubscribed: ['activity'] });
      expect(await ask(s, 'subscribe', { channels: ['activity:42'] })).toMatchObject({
        rejected: [{ channel: 'activity:42', reason: 'token_required' }],
      });
      await broadcast(tid, 'activity', 'activity:created', { id: 'a3' });
      await c.next((f) => f.type === 'event' && f.data.id === 'a3');
      await sleep(100);
      expect(seen.filter(([e]) => e === 'activity:created')).toEqual([]);
    });
  });

  it('joins nothing extra when AUTO_JOIN_CHANNELS is unset', async () => {
    const bare = await startTestApp({});
    try {
      const socket = await connect(bare.url, await bare.token({ sub: 'n', tid: freshTenant() }));
      const [session] = await next<any>(socket, 'session');
      expect(session.channels).toEqual([]);
      expect(await ask(socket, 'subscribe', { channel: 'activity' })).toMatchObject({
        rejected: [{ channel: 'activity', reason: 'unknown_channel' }],
      });
      socket.close();
    } finally {
      await bare.close();
    }
  });
});
