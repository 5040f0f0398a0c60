import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { OutboxService, RecordedRow } from '../src/core/outbox';
import { OutboxRelay } from '../src/core/outbox/outbox.relay';
import { queueJob } from '../src/core/queue/queue-registry.service';
import { RedisService } from '../src/core/redis/redis.service';
import { NotificationsService } from '../src/modules/notifications';
import { fanoutJobId, NOTIFICATIONS_QUEUE } from '../src/modules/notifications/notifications.jobs';
import { realtimeEvent } from '../src/modules/realtime';
import { EventLogService } from '../src/modules/realtime/event-log.service';
import { getQueueToken } from '@nestjs/bullmq';
import { eventually, sleep } from '../tools/scratch';
import { API, messagingClient } from './support/messaging';
import { ClientSocket, connect, record, request as ask } from './support/sockets';
import { ownerView, startTestApp, TestApp } from './support/test-app';
import { TenantScope } from '../src/core/database/tenant-scope';

// The outbox on one app, against the run's PostgreSQL and Redis. Its relay timer is off (an interval
// of ten minutes, no delay): tests run relay rounds themselves, so who publishes what is known.
const TENANT = `outbox${Date.now().toString(36)}`;

describe('the transactional outbox', () => {
  let t: TestApp;
  let ds: ReturnType<typeof ownerView>;
  let outbox: OutboxService;
  let relay: OutboxRelay;
  let log: EventLogService;
  const sockets: ClientSocket[] = [];

  const token = (sub: string, roles = ['MEMBER']) => t.token({ sub, tid: TENANT, roles });
  const as = async (sub: string) => messagingClient(t.url, await token(sub));
  const logged = async (channel: string) => (await log.read(TENANT, channel, undefined, 1000)).events;
  const depth = async () => (await ds.query(`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1`, [TENANT]))[0].n as number;
  /** Records rows and commits without publishing them: what a pod that died right after its commit leaves. */
  const leftBehind = (entries: ReturnType<typeof realtimeEvent>[]): Promise<RecordedRow[]> =>
    ds.transaction((em) => outbox.record(em, entries));
  const countEvent = (channel: string, n: number) =>
    realtimeEvent(TENANT, channel, 'service:count_update', { serviceId: channel, totalCheckins: n, currentAttendance: n, timestamp: 'x' });
  const metric = async (name: string) => {
    const text = (await request(t.url).get('/metrics')).text;
    return text.split('\n').filter((l) => l.startsWith(name));
  };

  beforeAll(async () => {
    t = await startTestApp({ OUTBOX_RELAY_INTERVAL_MS: '600000', OUTBOX_RELAY_DELAY_MS: '0', REALTIME_EVENTS_PER_SECOND: '500' });
    ds = ownerView(t.app.get(DataSource));
    outbox = t.app.get(OutboxService);
    relay = t.app.get(OutboxRelay);
    log = t.app.get(EventLogService);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t.close();
  });

  it('records a message’s event with the message and publishes it right after the commit (fast path)', async () => {
    const [alice] = [await as('ob-alice'), await as('ob-bob')];
    const id = (await alice.post('/conversations', { type: 'direct', participantIds: ['ob-bob'] }).expect(201)).body.id;
    const before = await metric('tether_outbox_published_total{path="fast"}');
    const sent = (await alice.post(`/conversations/${id}/messages`, { content: 'hello', clientMessageId: 'c1' }).expect(201)).body;
    // In the log when the request answers; the row is gone a moment later.
    expect((await logged(`conversation:${id}`)).map((e) => [e.event, e.data])).toEqual([['message:new', sent]]);
    await outbox.flush();
    expect(await depth()).toBe(0);
    expect(await metric('tether_outbox_published_total{path="fast"}')).not.toEqual(before);
    // A resend: the stored message, nothing recorded or published again.
    expect((await alice.post(`/conversations/${id}/messages`, { content: 'hello', clientMessageId: 'c1' }).expect(200)).body).toEqual(sent);
    expect(await depth()).toBe(0);
    expect(await logged(`conversation:${id}`)).toHaveLength(1);
  });

  it('relays rows a process left behind, in each channel’s order, and deletes them', async () => {
    const [a, b] = [`service:ob-${randomUUID()}`, `service:ob-${randomUUID()}`];
    // The run's database is shared by every suite: rows other suites' killed pods left (published
    // within the last deletion round, or not yet) are relayed first, so the count below is ours alone.
    await relay.runOnce();
    for (let i = 1; i <= 3; i++) await leftBehind([countEvent(a, i), countEvent(b, i)]);
    expect(await depth()).toBe(6);
    expect(await relay.runOnce()).toBe(6);
    expect(await depth()).toBe(0);
    for (const channel of [a, b])
      expect((await logged(channel)).map((e) => (e.data as { totalCheckins: number }).totalCheckins)).toEqual([1, 2, 3]);
    expect((await metric('tether_outbox_published_total{path="relay"}'))[0]).toMatch(/ [1-9]\d*$/);
  });

  it('never appends an event out of its channel’s order: a later row publishes the earlier ones first', async () => {
    const channel = `service:ob-${randomUUID()}`;
    const rows = [];
    for (let i = 1; i <= 3; i++) rows.push(...(await leftBehind([countEvent(channel, i)])));
    const caughtUp = async () => Number((await metric('tether_outbox_caught_up_total'))[0]?.split(' ')[1] ?? 0);
    const before = await caughtUp();
    // The fast path of row 3 runs first: rows 1 and 2 are not in the log, and nobody else publishes
    // them (their pod died), so once its waits are over it publishes them, then itself.
    await outbox.publish([rows[2]]);
    expect((await logged(channel)).map((e) => (e.data as { totalCheckins: number }).totalCheckins)).toEqual([1, 2, 3]);
    expect((await caughtUp()) - before).toBe(2);
    await outbox.publish([rows[0]]); // its own fast path, late: already in the log, nothing again
    expect(await logged(channel)).toHaveLength(3);
    await outbox.flush();
    expect(await depth()).toBe(0);

    // The log loses track of the channel (Redis lost its data): still no later row before an earlier one.
    const redis = t.app.get(RedisService);
    await redis.client.del(redis.key('rt', 'log', TENANT, channel), redis.key('rt', 'logseq', TENANT, channel));
    const later = [...(await leftBehind([countEvent(channel, 4)])), ...(await leftBehind([countEvent(channel, 5)]))];
    await outbox.publish([later[1]]);
    expect((await logged(channel)).map((e) => (e.data as { totalCheckins: number }).totalCheckins)).toEqual([4, 5]);
    await outbox.flush();
    expect(await depth()).toBe(0);
  });

  it('leaves a later row to the relay while an earlier row of its channel cannot be published', async () => {
    const channel = `service:ob-${randomUUID()}`;
    // A row no handler takes (as if its kind's module were not deployed yet): it cannot be published.
    const [stuck] = await ds.transaction((em) =>
      outbox.record(em, [{ tenantId: TENANT, kind: 'ob.unknown', channelKey: `${TENANT}|${channel}`, payload: {} }]),
    );
    const [next] = await leftBehind([countEvent(channel, 2)]);
    await outbox.publish([next]);
    expect(await logged(channel)).toEqual([]);
    expect(await depth()).toBe(2);
    // Once the earlier row is gone (deleted by hand here), the relay publishes the later one.
    await ds.query(`DELETE FROM outbox WHERE id = $1`, [stuck.id]);
    await relay.runOnce();
    expect((await logged(channel)).map((e) => (e.data as { totalCheckins: number }).totalCheckins)).toEqual([2]);
    expect(await depth()).toBe(0);
  });

  it('delivers each event once when the fast path and the relay race on the same rows', async () => {
    const channel = 'announcements';
    const socket = await connect(t.url, await token('ob-listener'));
    sockets.push(socket);
    expect((await ask(socket, 'subscribe', { channels: [channel] })).subscribed).toEqual([channel]);
    const seen = record(socket);
    const rows = (
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          leftBehind([
            realtimeEvent(TENANT, channel, 'announcement:new', {
              id: `a${i}`,
              title: 't',
              content: 'c',
              priority: 'normal',
              createdAt: 'x',
            }),
          ]),
        ),
      )
    ).flat();
    // Everyone at once, twice over: two fast paths on all rows and two relay rounds.
    await Promise.all([outbox.publish(rows), relay.runOnce(), outbox.publish([...rows].reverse()), relay.runOnce()]);
    await relay.runOnce();
    await outbox.flush();
    expect(await depth()).toBe(0);
    const inLog = (await logged(channel)).filter((e) => e.event === 'announcement:new');
    const order = [...rows]
      .sort((x, y) => Number(x.channelSeq) - Number(y.channelSeq))
      .map((r) => (r.payload as { data: { id: string } }).data.id);
    expect(inLog.map((e) => (e.data as { id: string }).id)).toEqual(order);
    await eventually(() => seen.length >= 5);
    await sleep(200);
    expect(seen.map(([e, p]) => [e, p.id])).toEqual(order.map((id) => ['announcement:new', id]));
    // The socket saw them with the offsets the log holds.
    expect(seen.map(([, , meta]) => meta.offset)).toEqual(inLog.map((e) => e.offset));
  });

  it('keeps a channel’s log in commit order under concurrent sends', async () => {
    const [x] = [await as('ob-x'), await as('ob-y')];
    const id = (await x.post('/conversations', { type: 'group', participantIds: ['ob-y'], title: 'race' }).expect(201)).body.id;
    const y = await as('ob-y');
    const sends = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? x : y).post(`/conversations/${id}/messages`, { content: `m${i}`, clientMessageId: `r${i}` }),
      ),
    );
    expect(sends.map((r) => r.status)).toEqual(Array(30).fill(201));
    await relay.runOnce(); // whatever waited on a gap
    const seqs = (await logged(`conversation:${id}`)).map((e) => (e.data as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('enqueues a push job once however often its row is published', async () => {
    const notifications = t.app.get(NotificationsService);
    const queue = t.app.get<Queue>(getQueueToken(NOTIFICATIONS_QUEUE));
    const { notificationId } = await TenantScope.run(TENANT, () =>
      notifications.notify({ tenantId: TENANT, recipients: { userIds: ['ob-push'] }, title: 'once', category: 'system' }),
    );
    await eventually(
      async () => (await ds.query(`SELECT status FROM notifications WHERE id = $1`, [notificationId]))[0].status === 'dispatched',
    );
    const first = (await queue.getJob(fanoutJobId(notificationId)))!;
    expect(first.finishedOn).toBeDefined();
    // The same row published again (a crash between publish and delete): no second job runs.
    const [row] = await ds.transaction((em) =>
      outbox.record(em, [queueJob(TENANT, NOTIFICATIONS_QUEUE, 'fanout', { notificationId }, { jobId: fanoutJobId(notificationId) })]),
    );
    await outbox.publish([row]);
    await sleep(300);
    const after = (await queue.getJob(fanoutJobId(notificationId)))!;
    expect([after.timestamp, after.finishedOn, after.attemptsMade]).toEqual([first.timestamp, first.finishedOn, first.attemptsMade]);
    await outbox.flush();
    expect(await depth()).toBe(0);
  });

  it('sweeps a notification stuck pending whose fan-out job was lost', async () => {
    const id = randomUUID();
    // As left by Redis losing its data after the outbox had enqueued the job: pending, no job, no row.
    await ds.query(
      `INSERT INTO notifications (id, tenant_id, category, priority, title, data, recipients, status, created_at)
       VALUES ($1, $2, 'system', 'normal', 'stuck', '{}', '{"userIds":["ob-stuck"]}', 'pending', now() - interval '10 minutes')`,
      [id, TENANT],
    );
    const notifications = t.app.get(NotificationsService);
    expect(await notifications.sweepPending(60_000)).toBeGreaterThanOrEqual(1);
    await eventually(async () => (await ds.query(`SELECT status FROM notifications WHERE id = $1`, [id]))[0].status === 'dispatched', {
      timeoutMs: 10_000,
    });
    // Dispatched now: the next sweep leaves it alone.
    expect((await ds.query(`SELECT count(*)::int AS n FROM notifications WHERE id = $1 AND status = 'pending'`, [id]))[0].n).toBe(0);
  });

  it('reports its depth and lag in /health, /metrics and GET /admin/queues', async () => {
    await leftBehind([countEvent(`service:ob-${randomUUID()}`, 1)]);
    const health = await request(t.url).get('/health');
    expect(health.body.details.outbox).toEqual({ status: 'up', depth: expect.any(Number), oldestAgeSeconds: expect.any(Number) });
    expect(health.body.details.outbox.depth).toBeGreaterThanOrEqual(1);
    const service = await token('ob-ops', ['SERVICE']);
    const queues = await request(t.url).get(`${API}/admin/queues`).set('Authorization', `Bearer ${service}`).expect(200);
    expect(queues.body.outbox).toEqual({ depth: expect.any(Number), oldestAgeSeconds: expect.any(Number) });
    for (const name of ['tether_outbox_depth', 'tether_outbox_oldest_age_seconds', 'tether_outbox_publish_failures_total'])
      expect(await metric(name)).not.toEqual([]);
    await relay.runOnce();
    expect(await depth()).toBe(0);
  });
});
