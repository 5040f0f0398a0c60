import { Client } from 'pg';
import { MutationQueue, MutationResult, QueuedMutation, QueueStatus } from '../src/mutations';
import { memoryStorage } from '../src/storage';
import { closedPort, context, eventually, freshTenant, jsonResponse, pg, Server, startServer } from './data-support';

describe('MutationQueue against the real server', () => {
  let server: Server;
  let db: Client;
  beforeAll(async () => {
    [server, db] = await Promise.all([startServer(), pg()]);
  }, 60_000);
  afterAll(async () => {
    await db?.end();
    await server?.close();
  }, 30_000);

  /** A tenant with `services` services and one event, and a member's context. */
  const seed = async (services: number, opts: Parameters<typeof context>[2] = {}) => {
    const tid = freshTenant('sdkq');
    const admin = await context(server, { tid, sub: 'admin', roles: ['ADMIN'] });
    const ids: string[] = [];
    for (let i = 0; i < services; i++)
      ids.push((await admin.ctx.http.post<{ id: string }>('/services', { name: `S${i}`, startsAt: new Date().toISOString() })).id);
    const event = (await admin.ctx.http.post<{ id: string }>('/events', { title: 'Dinner', startsAt: '2030-01-01T18:00:00Z' })).id;
    return { tid, services: ids, event, member: await context(server, { tid, sub: 'ann' }, opts) };
  };
  const checkin = (serviceId: string, agoMs = 60_000) => ({ serviceId, checkinTime: new Date(Date.now() - agoMs).toISOString() });
  const rows = async (tid: string) =>
    (
      await db.query(
        `SELECT id::text, offline_id, version, sync_xid::text FROM community_checkins WHERE tenant_id = $1 ORDER BY offline_id`,
        [tid],
      )
    ).rows;
  const collect = (queue: MutationQueue) => {
    const results: MutationResult[] = [];
    queue.on('result', (r) => results.push(r));
    return results;
  };
  const lostResponse = (when: (url: string) => boolean) => {
    let lost = 0;
    const hook = async (url: string, _init: RequestInit, forward: () => Promise<Response>) => {
      const response = await forward();
      if (!when(url)) return response;
      lost++;
      throw new TypeError('fetch failed: socket hang up');
    };
    return { hook, lost: () => lost };
  };

  it('a restarted queue on the same storage resends the same offlineIds: duplicate, nothing written twice', async () => {
    const storage = memoryStorage();
    const cut = lostResponse((url) => url.includes('/bulk'));
    const { tid, services, member } = await seed(3, { storage, hook: cut.hook });
    const first = new MutationQueue(member.ctx, { initialDelayMs: 60_000 });
    const ids = services.map((s) => first.enqueue('checkins', checkin(s)));
    expect(ids).toEqual([expect.any(String), expect.any(String), expect.any(String)]);
    expect(first.status).toEqual({ count: 3, processing: false });
    first.start();
    await first.flush(); // the server committed, the answer was lost: now waiting on backoff
    first.stop();
    expect(cut.lost()).toBe(1);
    expect(first.status).toEqual({ count: 3, processing: false });
    const written = await rows(tid);
    expect(written.map((r) => r.offline_id).sort()).toEqual([...ids].sort());
    const stored = JSON.parse((await storage.getItem('tether:mutations'))!) as QueuedMutation[];
    expect(stored.map((i) => [i.offlineId, i.kind])).toEqual(ids.map((id) => [id, 'checkins']));

    // The app restarts: a new queue on the same storage, the network works.
    const again = await context(server, { tid, sub: 'ann' }, { storage });
    const second = new MutationQueue(again.ctx);
    const results = collect(second);
    await second.ready;
    expect(second.status).toEqual({ count: 3, processing: false });
    second.start();
    await second.flush();
    expect(again.sent.map((s) => s.body.checkins.map((c: { offlineId: string }) => c.offlineId))).toEqual([ids]);
    expect(results.map((r) => [r.offlineId, r.status, r.originalStatus])).toEqual(ids.map((id) => [id, 'duplicate', 'created']));
    expect(await rows(tid)).toEqual(written);
    expect(second.status).toEqual({ count: 0, processing: false });
    expect(JSON.parse((await storage.getItem('tether:mutations'))!)).toEqual([]);
  });

  it('sends in order, consecutive items of one kind in one bulk request of at most batchSize; plain requests carry their key', async () => {
    const { tid, services, event, member } = await seed(3);
    const queue = new MutationQueue(member.ctx, { batchSize: 2, conflictResolution: 'fail-on-conflict' });
    const results = collect(queue);
    const statuses: QueueStatus[] = [];
    queue.on('status', (s) => statuses.push(s));
    const c = services.map((s) => queue.enqueue('checkins', checkin(s)));
    const r = queue.enqueue('rsvps', { eventId: event, status: 'going' });
    const req = queue.enqueueRequest('POST', '/conversations', { type: 'group', title: 'Trip', participantIds: ['bob'] });
    const bad = queue.enqueue('checkins', checkin('00000000-0000-4000-8000-000000000000'));
    expect(queue.status.count).toBe(6);
    queue.start();
    await queue.flush();

    expect(member.sent.map((s) => [s.method, s.url])).toEqual([
      ['POST', '/sync/checkins/bulk'],
      ['POST', '/sync/checkins/bulk'],
      ['POST', '/sync/events/rsvp/bulk'],
      ['POST', '/conversations'],
      ['POST', '/sync/checkins/bulk'],
    ]);
    expect(member.sent[0].body).toEqual({
      conflictResolution: 'fail-on-conflict',
      checkins: [
        { ...member.sent[0].body.checkins[0], offlineId: c[0], serviceId: services[0] },
        { ...member.sent[0].body.checkins[1], offlineId: c[1], serviceId: services[1] },
      ],
    });
    expect(member.sent[2].body).toEqual({
      conflictResolution: 'fail-on-conflict',
      rsvps: [{ eventId: event, status: 'going', offlineId: r }],
    });
    expect(member.sent[3].headers['Idempotency-Key']).toBe(req);
    expect(results.map((x) => [x.offlineId, x.kind, x.status])).toEqual([
      [c[0], 'checkins', 'created'],
      [c[1], 'checkins', 'created'],
      [c[2], 'checkins', 'created'],
      [r, 'rsvps', 'created'],
      [req, 'request', 'sent'],
      [bad, 'checkins', 'rejected'],
    ]);
    expect(results[4].response).toMatchObject({ type: 'group', title: 'Trip' });
    // A rejected item leaves the queue; the app gets it (with its payload) to fix or drop.
    expect(results[5]).toMatchObject({
      error: { code: 'service_not_found' },
      payload: { serviceId: '00000000-0000-4000-8000-000000000000' },
    });
    expect((await rows(tid)).map((x) => x.offline_id).sort()).toEqual([...c].sort());
    expect(statuses).toContainEqual({ count: 6, processing: true });
    expect(statuses.at(-1)).toEqual({ count: 0, processing: false });
  });

  it('items enqueued while a batch is on its way go out next, without another kick', async () => {
    const ref: { queue?: MutationQueue } = {};
    const late: string[] = [];
    const { services, member } = await seed(2, {
      hook: async (_url, _init, forward) => {
        const response = await forward();
        if (!late.length) late.push(ref.queue!.enqueue('checkins', checkin(services[1])));
        return response;
      },
    });
    const queue = (ref.queue = new MutationQueue(member.ctx));
    const results = collect(queue);
    const first = queue.enqueue('checkins', checkin(services[0]));
    queue.start();
    await eventually(() => results.length === 2);
    expect(results.map((r) => [r.offlineId, r.status])).toEqual([
      [first, 'created'],
      [late[0], 'created'],
    ]);
    queue.stop();
  });

  it('a plain request whose response was lost is resent with the same Idempotency-Key and runs once', async () => {
    const cut = lostResponse(() => cut.lost() === 0);
    const { member } = await seed(0, { hook: cut.hook });
    const queue = new MutationQueue(member.ctx, { initialDelayMs: 20 });
    const results = collect(queue);
    const key = queue.enqueueRequest('POST', '/conversations', { type: 'group', title: 'Once', participantIds: ['bob'] });
    queue.start();
    await eventually(() => results.length === 1);
    expect(member.sent.map((s) => [s.url, s.headers['Idempotency-Key']])).toEqual([
      ['/conversations', key],
      ['/conversations', key],
    ]);
    const list = await member.ctx.http.get<{ items: { title: string }[] }>('/conversations');
    expect(list.items.filter((i) => i.title === 'Once')).toHaveLength(1);
    expect(results[0]).toMatchObject({ offlineId: key, status: 'sent', response: { title: 'Once' } });
  });

  it('backs off on a closed port and 5xx, resending the same offlineId, then delivers; network back wakes it at once', async () => {
    let phase: 'down' | 'busy' | 'up' = 'down';
    const attempts: number[] = [];
    const closed = await closedPort(server.url);
    const { services, member } = await seed(1, {
      hook: (url, init, forward) => {
        attempts.push(Date.now());
        if (phase === 'down') return fetch(url.replace(server.url, closed), init);
        if (phase === 'busy') {
          phase = 'up';
          return Promise.resolve(
            jsonResponse(503, { statusCode: 503, code: 'database_unavailable', message: 'away' }, { 'Retry-After': '0' }),
          );
        }
        return forward();
      },
    });
    const queue = new MutationQueue(member.ctx, { initialDelayMs: 40, maxDelayMs: 320 });
    const results = collect(queue);
    const id = queue.enqueue('checkins', checkin(services[0]));
    queue.start();
    await queue.flush();
    expect(queue.status).toEqual({ count: 1, processing: false });
    await eventually(() => attempts.length >= 5);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
    // Doubling with jitter (between half and all of 40, 80, 160, 320 ms)
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[3]).toBeGreaterThanOrEqual(140);
    expect(gaps[3]).toBeGreaterThan(gaps[0]);
    expect(results).toEqual([]);

    phase = 'busy';
    member.reachable();
    await eventually(() => results.length === 1);
    expect(results[0]).toMatchObject({ offlineId: id, status: 'created' });
    expect(new Set(member.sent.map((s) => s.body.checkins[0].offlineId))).toEqual(new Set([id]));
    expect(queue.status).toEqual({ count: 0, processing: false });
    queue.stop();
  });

  it('resends an item answered rejected/retry_later while its batch neighbours settle', async () => {
    let rewritten = false;
    const { services, member } = await seed(2, {
      hook: async (_url, _init, forward) => {
        const response = await forward();
        if (rewritten) return response;
        rewritten = true;
        const body = (await response.json()) as { results: Record<string, unknown>[] };
        body.results[0] = { offlineId: body.results[0].offlineId, status: 'rejected', error: { code: 'retry_later', retryable: true } };
        return jsonResponse(200, body);
      },
    });
    const queue = new MutationQueue(member.ctx, { initialDelayMs: 20 });
    const results = collect(queue);
    const [a, b] = services.map((s) => queue.enqueue('checkins', checkin(s)));
    queue.start();
    await eventually(() => results.length === 2);
    expect(results.map((r) => [r.offlineId, r.status])).toEqual([
      [b, 'created'],
      [a, 'duplicate'],
    ]);
    expect(member.sent.map((s) => s.body.checkins.map((c: { offlineId: string }) => c.offlineId))).toEqual([[a, b], [a]]);
    queue.stop();
  });

  it('caps its size (the oldest goes) and age, with a dropped event, and persists what is left', async () => {
    let now = 1_000_000;
    const storage = memoryStorage();
    const { member } = await seed(0, { storage, clock: { now: () => now, sleep: () => Promise.resolve() } });
    const queue = new MutationQueue(member.ctx, { maxItems: 3, maxAgeMs: 60_000 });
    const dropped: { item: QueuedMutation; reason: string }[] = [];
    queue.on('dropped', (d) => dropped.push(d));
    const ids = [0, 1, 2, 3, 4].map((i) => queue.enqueue('rsvps', { eventId: `e${i}`, status: 'going' }));
    expect(dropped.map((d) => [d.item.offlineId, d.reason])).toEqual([
      [ids[0], 'max_items'],
      [ids[1], 'max_items'],
    ]);
    expect(queue.status.count).toBe(3);
    await queue.ready;
    await eventually(async () => JSON.parse((await storage.getItem('tether:mutations')) ?? '[]').length === 3);

    now += 60_001;
    await queue.flush();
    expect(dropped.slice(2).map((d) => [d.item.offlineId, d.reason])).toEqual(ids.slice(2).map((id) => [id, 'max_age']));
    expect(member.sent).toEqual([]);
    expect(queue.status).toEqual({ count: 0, processing: false });
    await eventually(async () => (await storage.getItem('tether:mutations')) === '[]');

    // A restart over a full store keeps the newest maxItems.
    const full = memoryStorage();
    const items = [0, 1, 2, 3].map((i) => ({ offlineId: `o${i}`, kind: 'rsvps', payload: {}, createdAt: now }));
    await full.setItem('tether:mutations', JSON.stringify(items));
    const restarted = new MutationQueue((await context(server, { tid: 'x', sub: 'y' }, { storage: full })).ctx, { maxItems: 2 });
    const gone: string[] = [];
    restarted.on('dropped', (d) => gone.push(d.item.offlineId));
    await restarted.ready;
    expect(gone).toEqual(['o0', 'o1']);
    expect(restarted.status.count).toBe(2);
  });
});
