import type { Client } from 'pg';
import { eventually, HttpFaultProxy, sleep, startHttpFaultProxy, startTcpRouter, TcpRouter } from '../tools/scratch';
import { accessToken, api, Pod, startPod, stopPods } from './support/pods';
import { freshTenant, pgClient, UNTHROTTLED } from './support/sync';
import { Clients, waitForState } from './support/tether';

// The SDK's data parts (sync, the offline queue, messages) against two app processes, with faults
// between the client and the pod: a server that is unreachable, and answers lost after the commit.
const POD_ENV = { ...UNTHROTTLED, REALTIME_POD_TIMEOUT_MS: '3000', REALTIME_PRESENCE_OFFLINE_DELAY_MS: '200' };
const API = '/api/mobile/v1';
const iso = (ms: number) => new Date(ms).toISOString();
const rand = (n: number) => Math.floor(Math.random() * n);

interface Doc {
  id: string;
  version: number;
  [field: string]: unknown;
}

describe('the client’s data against the server', () => {
  let a: Pod;
  let b: Pod;
  let db: Client;
  const proxies: { close(): Promise<void> }[] = [];
  const clients = new Clients();

  beforeAll(async () => {
    [a, b] = await Promise.all([startPod(POD_ENV), startPod(POD_ENV)]);
    db = await pgClient();
  }, 60000);
  afterAll(async () => {
    clients.closeAll();
    await Promise.all(proxies.map((p) => p.close()));
    await db?.end();
    await stopPods([a, b]);
  }, 30000);

  const gate = async (pod: Pod): Promise<HttpFaultProxy> => {
    const p = await startHttpFaultProxy(pod.port);
    proxies.push(p);
    return p;
  };
  const router = async (ports: number[]): Promise<TcpRouter> => {
    const r = await startTcpRouter(ports);
    proxies.push(r);
    return r;
  };

  it('pulls a collection while writers on both pods change it, and ends equal to a fresh full pull and to the database', async () => {
    const tid = freshTenant('sync');
    const writers = await Promise.all(['writer-a', 'writer-b'].map((sub) => accessToken(tid, sub, ['ADMIN'])));
    const reader = await accessToken(tid, 'syncer');
    const create = (pod: Pod, token: string, title: string) =>
      api<Doc>(pod.url, token, 'POST', '/events', { title, startsAt: '2030-01-01T18:00:00Z' }).then((r) => {
        expect(r.status).toBe(201);
        return r.body.id;
      });
    for (let i = 0; i < 15; i++) await create(a, writers[0], `before ${i}`);

    const local = new Map<string, Doc>();
    let resets = 0;
    const tether = clients.make({ url: a.url, token: () => accessToken(tid, 'syncer') }, { connect: false });
    const events = tether.sync.collection<Doc>('events', {
      limit: 7,
      apply: async ({ upserts, deletes, reset }) => {
        if (reset) {
          resets++;
          local.clear();
        }
        await sleep(rand(5)); // a local database write takes a while
        for (const doc of upserts) local.set(doc.id, doc);
        for (const id of deletes) local.delete(id);
      },
    });

    // The same through GET /sync/changes (one cursor for several collections).
    const viaChanges = new Map<string, Doc>();
    const changes = () =>
      tether.sync.changes(['rsvps', 'events'], {
        limit: 5,
        apply: async ({ collections, reset }) => {
          if (reset) viaChanges.clear();
          for (const doc of collections.events.upserts as Doc[]) viaChanges.set(doc.id, doc);
          for (const id of collections.events.deletes) viaChanges.delete(id);
        },
      });

    // Two writers, one per pod: creates, edits and deletes, interleaved with the client's pulls.
    const write = async (pod: Pod, token: string, label: string) => {
      const mine: string[] = [];
      for (let i = 0; i < 40; i++) {
        const op = mine.length < 3 ? 0 : rand(3);
        if (op === 0) mine.push(await create(pod, token, `${label} ${i}`));
        else if (op === 1) {
          const r = await api(pod.url, token, 'PATCH', `/events/${mine[rand(mine.length)]}`, { title: `${label} edit ${i}` });
          expect(r.status).toBe(200);
        } else {
          const [id] = mine.splice(rand(mine.length), 1);
          expect((await api(pod.url, token, 'DELETE', `/events/${id}`)).status).toBe(204);
        }
      }
    };
    let writing = true;
    const done = Promise.all([write(a, writers[0], 'a'), write(b, writers[1], 'b')]).finally(() => (writing = false));
    let pulls = 0;
    while (writing) {
      await Promise.all([events.pull(), changes()]);
      pulls++;
      await sleep(rand(40));
    }
    await done;

    const fullPull = async () => {
      const rows = new Map<string, Doc>();
      let cursor: string | undefined;
      for (;;) {
        const page = await api(a.url, reader, 'GET', `/sync/events?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        for (const doc of page.body.events as Doc[]) rows.set(doc.id, doc);
        cursor = page.body.nextCursor;
        if (!page.body.hasMore) return rows;
      }
    };
    const inDatabase = async () =>
      Object.fromEntries(
        (
          await db.query(`SELECT id::text, version FROM community_events WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY id`, [tid])
        ).rows.map((r: { id: string; version: number }) => [r.id, r.version]),
      );
    const versions = (rows: Map<string, Doc>) =>
      Object.fromEntries([...rows.values()].sort((x, y) => (x.id < y.id ? -1 : 1)).map((d) => [d.id, d.version]));
    const expected = await inDatabase();
    // An open transaction anywhere on this PostgreSQL server holds the feed back a little: pull until it catches up.
    await eventually(
      async () => {
        await Promise.all([events.pull(), changes()]);
        return [versions(local), versions(viaChanges)];
      },
      {
        until: ([v, w]) => JSON.stringify(v) === JSON.stringify(expected) && JSON.stringify(w) === JSON.stringify(expected),
        what: 'the local copy to match the database',
        timeoutMs: 15_000,
        everyMs: 200,
      },
    );
    const fresh = await fullPull();
    expect([...local.values()].sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual([...fresh.values()].sort((x, y) => (x.id < y.id ? -1 : 1)));
    expect([...viaChanges.values()].sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(
      [...fresh.values()].sort((x, y) => (x.id < y.id ? -1 : 1)),
    );
    expect(versions(fresh)).toEqual(expected);
    expect(Object.keys(expected).length).toBeGreaterThan(15);
    expect(pulls).toBeGreaterThan(2);
    expect(resets).toBe(0);
  }, 60000);

  it('resends the offline queue after the server committed but the answer was lost, and nothing is written twice', async () => {
    const tid = freshTenant('queue');
    const admin = await accessToken(tid, 'admin', ['ADMIN']);
    const services: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await api<Doc>(a.url, admin, 'POST', '/services', { name: `Service ${i}`, startsAt: iso(Date.now() - 600_000) });
      services.push(r.body.id);
    }
    const member = await accessToken(tid, 'ann');
    const conversation = (await api<Doc>(a.url, member, 'POST', '/conversations', { type: 'direct', participantIds: ['bob'] })).body.id;

    const proxy = await gate(a);
    const bulk = (r: { method: string; url: string }) => r.method === 'POST' && r.url.startsWith(`${API}/sync/checkins/bulk`);
    const send = (r: { method: string; url: string }) => r.method === 'POST' && r.url === `${API}/conversations/${conversation}/messages`;
    proxy.dropResponses(bulk, 1);
    proxy.dropResponses(send, 1);
    const tether = clients.make({ url: proxy.url, token: () => accessToken(tid, 'ann') });
    const results: { offlineId: string; status: string }[] = [];
    tether.mutations.on('result', (r: { offlineId: string; status: string }) => results.push(r));

    const now = Date.now();
    const offlineIds = services.map((serviceId, i) =>
      tether.mutations.enqueue('checkins', { serviceId, checkinTime: iso(now - 60_000 * (i + 1)) }),
    );
    tether.mutations.enqueueRequest('POST', `/conversations/${conversation}/messages`, { content: 'queued hello' });
    await eventually(() => tether.mutations.status.count === 0 && !tether.mutations.status.processing, {
      what: 'the queue to empty',
      timeoutMs: 30_000,
      everyMs: 100,
    });

    // Each request was answered to the proxy and lost once, then sent again.
    expect(proxy.requests.filter((r) => bulk(r) && r.dropped)).toHaveLength(1);
    expect(proxy.requests.filter(bulk).length).toBeGreaterThanOrEqual(2);
    expect(proxy.requests.filter((r) => send(r) && r.dropped)).toHaveLength(1);
    expect(proxy.requests.filter(send).length).toBeGreaterThanOrEqual(2);

    // One result per item, none a failure; one row each, written once; one message.
    expect(
      results
        .filter((r) => offlineIds.includes(r.offlineId))
        .map((r) => r.offlineId)
        .sort(),
    ).toEqual([...offlineIds].sort());
    for (const r of results.filter((x) => offlineIds.includes(x.offlineId))) expect(['created', 'duplicate']).toContain(r.status);
    // The lost batch was resent with its offlineIds: the server answered it as a replay.
    expect(results.map((r) => r.status)).toContain('duplicate');
    const rows = await db.query(`SELECT service_id::text, version FROM community_checkins WHERE tenant_id = $1 ORDER BY service_id`, [tid]);
    expect(rows.rows).toEqual([...services].sort().map((id) => ({ service_id: id, version: 1 })));
    expect((await db.query(`SELECT count(*)::int AS n FROM sync_mutations WHERE tenant_id = $1`, [tid])).rows[0].n).toBe(3);
    const messages = await api(a.url, member, 'GET', `/conversations/${conversation}/messages`);
    expect(messages.body.messages.map((m: { content: string; seq: number }) => [m.seq, m.content])).toEqual([[1, 'queued hello']]);
  }, 45000);

  it('keeps check-ins and RSVPs made while the server is unreachable, and sends them in order once it is back', async () => {
    const tid = freshTenant('offlinequeue');
    const admin = await accessToken(tid, 'admin', ['ADMIN']);
    const service = (await api<Doc>(a.url, admin, 'POST', '/services', { name: 'Sunday', startsAt: iso(Date.now() - 600_000) })).body.id;
    const event = (await api<Doc>(a.url, admin, 'POST', '/events', { title: 'Picnic', startsAt: '2030-06-01T12:00:00Z' })).body.id;
    const lb = await router([a.port]);
    lb.refuse(true);
    const tether = clients.make({ url: lb.url, token: () => accessToken(tid, 'offline-ann') });
    const results: { offlineId: string; kind: string; status: string }[] = [];
    tether.mutations.on('result', (r: { offlineId: string; kind: string; status: string }) => results.push(r));
    const ids = [
      tether.mutations.enqueue('checkins', { serviceId: service, checkinTime: iso(Date.now() - 120_000) }),
      tether.mutations.enqueue('rsvps', { eventId: event, status: 'maybe' }),
      tether.mutations.enqueue('rsvps', { eventId: event, status: 'going' }),
      tether.mutations.enqueue('checkins', {
        serviceId: service,
        checkinTime: iso(Date.now() - 120_000),
        checkoutTime: iso(Date.now() - 60_000),
      }),
    ];
    await sleep(1500);
    expect(results).toEqual([]);
    expect(tether.mutations.status.count).toBe(4);

    lb.refuse(false);
    await eventually(() => results.length === 4, { what: 'four results', timeoutMs: 15_000, everyMs: 100 });
    expect(results.map((r) => [r.offlineId, r.kind, r.status])).toEqual([
      [ids[0], 'checkins', 'created'],
      [ids[1], 'rsvps', 'created'],
      [ids[2], 'rsvps', 'updated'],
      [ids[3], 'checkins', 'updated'],
    ]);
    // In order: the later answer and the check-out won.
    const rsvp = await db.query(`SELECT status, version FROM community_rsvps WHERE tenant_id = $1`, [tid]);
    expect(rsvp.rows).toEqual([{ status: 'going', version: 2 }]);
    const checkin = await db.query(`SELECT checkout_time IS NOT NULL AS out, version FROM community_checkins WHERE tenant_id = $1`, [tid]);
    expect(checkin.rows).toEqual([{ out: true, version: 2 }]);
    expect(tether.mutations.status).toEqual({ count: 0, processing: false });
  }, 30000);

  it('sends messages while the server is unreachable; each arrives once when it is back', async () => {
    const tid = freshTenant('unreachable');
    const alice = await accessToken(tid, 'alice');
    const conversation = (await api<Doc>(a.url, alice, 'POST', '/conversations', { type: 'direct', participantIds: ['bob'] })).body.id;
    const channel = `conversation:${conversation}`;

    // Bob listens on pod B.
    const bob = clients.make({ url: b.url, token: () => accessToken(tid, 'bob') });
    const received: { id: string; content: string; seq: number }[] = [];
    const sub = bob.subscribe(channel);
    sub.on('message:new', (message: { id: string; content: string; seq: number }) => received.push(message));
    let subscribed = 0;
    sub.on('subscribed', () => subscribed++);
    await waitForState(bob, 'connected');
    await eventually(() => subscribed === 1, { what: 'bob subscribed' });

    // Alice's app starts with the server out of reach: connections are refused.
    const lb = await router([a.port]);
    lb.refuse(true);
    const tether = clients.make({ url: lb.url, token: () => accessToken(tid, 'alice') });
    const sends = ['one', 'two', 'three'].map((content) => tether.messages.send(conversation, content));
    await sleep(1500);
    expect(received).toEqual([]);
    expect(tether.state).not.toBe('connected');

    lb.refuse(false);
    const stored = await Promise.all(sends);
    await eventually(() => received.length >= 3, { what: 'three messages at bob', timeoutMs: 10_000 });
    await sleep(300);
    expect(received.map((m) => m.content).sort()).toEqual(['one', 'three', 'two']);
    expect(new Set(received.map((m) => m.id)).size).toBe(3);
    expect(stored.map((m: { id: string }) => m.id).sort()).toEqual(received.map((m) => m.id).sort());
    const history = await api(b.url, await accessToken(tid, 'bob'), 'GET', `/conversations/${conversation}/messages`);
    // Sent one at a time in the order made: stored in that order.
    expect(history.body.messages.map((m: { seq: number; content: string }) => [m.seq, m.content])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
    // And the history the SDK catches up on says the same.
    const caught = await tether.messages.catchUp(conversation, 0);
    expect(caught.map((m: { id: string }) => m.id)).toEqual(history.body.messages.map((m: { id: string }) => m.id));
  }, 40000);

  it('stores each of a burst of messages once, in order, while the connection keeps dropping', async () => {
    const tid = freshTenant('flaky');
    const alice = await accessToken(tid, 'alice');
    const conversation = (await api<Doc>(a.url, alice, 'POST', '/conversations', { type: 'direct', participantIds: ['bob'] })).body.id;
    const lb = await router([a.port, b.port]);
    const tether = clients.make({ url: lb.url, token: () => accessToken(tid, 'alice') });
    await waitForState(tether, 'connected');
    // Every connection through the balancer (socket and HTTP alike) is cut every 150 ms for a while.
    let cutting = true;
    const cutter = (async () => {
      while (cutting) {
        await sleep(150);
        lb.cut();
      }
    })();
    const contents = Array.from({ length: 20 }, (_, i) => `m${i + 1}`);
    const sends: Promise<{ id: string; seq: number }>[] = [];
    for (const content of contents) {
      sends.push(tether.messages.send(conversation, content));
      await sleep(40);
    }
    await sleep(500);
    cutting = false;
    await cutter;
    const stored = await Promise.all(sends);
    expect(lb.connections).toBeGreaterThan(5);
    expect(stored.map((m) => m.seq)).toEqual(contents.map((_, i) => i + 1));
    const history = await api(b.url, await accessToken(tid, 'bob'), 'GET', `/conversations/${conversation}/messages?limit=100`);
    expect(history.body.messages.map((m: { seq: number; content: string }) => [m.seq, m.content])).toEqual(
      contents.map((c, i) => [i + 1, c]),
    );
  }, 40000);

  it('sends a message over HTTP while the socket is blocked, loses the answer once, and it is stored once', async () => {
    const tid = freshTenant('lostanswer');
    const alice = await accessToken(tid, 'alice');
    const conversation = (await api<Doc>(a.url, alice, 'POST', '/conversations', { type: 'direct', participantIds: ['bob'] })).body.id;
    const proxy = await gate(a);
    proxy.blockSocketPath(true);
    const send = (r: { method: string; url: string }) => r.method === 'POST' && r.url === `${API}/conversations/${conversation}/messages`;
    proxy.dropResponses(send, 1);
    const tether = clients.make({ url: proxy.url, token: () => accessToken(tid, 'alice') });
    const message = await tether.messages.send(conversation, 'only once');
    expect(message).toMatchObject({ conversationId: conversation, seq: 1, content: 'only once', senderId: 'alice' });
    expect(proxy.requests.filter((r) => send(r) && r.dropped)).toHaveLength(1);
    const history = await api(a.url, alice, 'GET', `/conversations/${conversation}/messages`);
    expect(history.body.messages.map((m: { id: string; content: string }) => [m.id, m.content])).toEqual([[message.id, 'only once']]);
  }, 30000);
});
