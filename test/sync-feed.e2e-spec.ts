import type { Client } from 'pg';
import { eventually, sleep } from '../tools/scratch';
import { caller, freshTenant, insertEvent, pgClient, Replica, UNTHROTTLED, uuid } from './support/sync';
import { startTestApp, TestApp } from './support/test-app';

/** The (x, id) key inside an opaque cursor, to check that cursors only move forward. */
function keyOf(cursor: string): [bigint, string] {
  const body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  return [BigInt(body.x), body.i];
}
const after = (a: [bigint, string], b: [bigint, string]) => a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);
const rand = (n: number) => Math.floor(Math.random() * n);

describe('sync change feed', () => {
  let t: TestApp;
  let db: Client;

  beforeAll(async () => {
    t = await startTestApp(UNTHROTTLED);
    db = await pgClient();
  });
  afterAll(async () => {
    await db.end();
    await t.close();
  });

  it("answers seed 000's shape, in pages of 50 by default and at most 500", async () => {
    const tid = freshTenant();
    const ids = [];
    for (let i = 0; i < 60; i++) ids.push(await insertEvent(db, tid));
    const m = await caller(t, tid, 'reader');
    const first = await m.get('/sync/events');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(first.body).sort()).toEqual(['deleted', 'events', 'hasMore', 'nextCursor', 'timestamp']);
    expect(first.body.events).toHaveLength(50);
    expect(first.body).toMatchObject({ deleted: [], hasMore: true, nextCursor: expect.any(String) });
    expect(new Date(first.body.timestamp).toISOString()).toBe(first.body.timestamp);
    expect(first.body.events[0]).toEqual({
      id: expect.any(String),
      title: expect.any(String),
      description: null,
      location: null,
      startsAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      endsAt: null,
      capacity: null,
      visibility: 'public',
      version: 1,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const second = await m.get('/sync/events', { cursor: first.body.nextCursor });
    expect(second.body.events).toHaveLength(10);
    expect(second.body.hasMore).toBe(false);
    expect([...first.body.events, ...second.body.events].map((e: any) => e.id).sort()).toEqual(ids.sort());

    const tooMany = await m.get('/sync/events', { limit: 501 });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.code).toBe('validation_failed');
    expect((await m.get('/sync/events', { limit: 500 })).body.events).toHaveLength(60);
    const unknown = await m.get('/sync/sermons');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('unknown_collection');
  });

  it('pages by cursor with no gap and no repeat; the cursor belongs to its user and collection', async () => {
    const tid = freshTenant();
    for (let i = 0; i < 23; i++) await insertEvent(db, tid);
    const m = await caller(t, tid, 'pager');
    const replica = new Replica(m, 'events');
    const seen: string[] = [];
    let previous: [bigint, string] = [0n, ''];
    for (;;) {
      const body = await replica.pull(4);
      seen.push(...body.events.map((e: any) => e.id));
      const key = keyOf(body.nextCursor);
      expect(after(key, previous)).toBe(true);
      previous = key;
      if (!body.hasMore) break;
    }
    expect(seen).toHaveLength(23);
    expect(new Set(seen).size).toBe(23);
    expect(replica.pulls).toBe(6);
    // Nothing changed: the same cursor answers an empty page, and keeps answering it.
    const again = await m.get('/sync/events', { cursor: replica.cursor });
    expect(again.body).toMatchObject({ events: [], deleted: [], hasMore: false });

    const other = await caller(t, tid, 'someone-else');
    const stolen = await other.get('/sync/events', { cursor: replica.cursor });
    expect(stolen.status).toBe(400);
    expect(stolen.body.code).toBe('invalid_cursor');
    expect((await m.get('/sync/members', { cursor: replica.cursor })).body.code).toBe('invalid_cursor');
    expect((await m.get('/sync/events', { cursor: 'not-a-cursor' })).body.code).toBe('invalid_cursor');
    const forged = Buffer.from(JSON.stringify({ v: 1, c: 'events', x: '1; DROP', i: uuid(), u: 'x' })).toString('base64url');
    expect((await m.get('/sync/events', { cursor: forged })).status).toBe(400);
    const both = await m.get('/sync/events', { cursor: replica.cursor, updatedAfter: new Date().toISOString() });
    expect(both.body.code).toBe('validation_failed');
  });

  it('two connections: a later commit waits for an open older transaction, whose row is never skipped (insert, update, soft delete)', async () => {
    const tid = freshTenant();
    const m = await caller(t, tid, 'watcher');
    const replica = new Replica(m, 'events');
    await replica.drain();
    expect(replica.ids()).toEqual([]);
    const a = await pgClient();
    const b = await pgClient();
    const titles = () => Object.fromEntries([...replica.rows.values()].map((e) => [e.id, e.title]));
    const settle = (check: () => boolean) =>
      eventually(
        async () => {
          await replica.drain();
          return titles();
        },
        { until: check, timeoutMs: 15_000 },
      );
    try {
      // Insert: A writes first (smaller xid) and stays open; B writes and commits.
      await a.query('BEGIN');
      const idA = await insertEvent(a, tid, { title: 'A' });
      const idB = await insertEvent(b, tid, { title: 'B' });
      await replica.drain();
      expect(replica.ids()).toEqual([]); // B is committed, but served only once A is done
      await a.query('COMMIT');
      await settle(() => replica.rows.size === 2);
      expect(titles()).toEqual({ [idA]: 'A', [idB]: 'B' });

      // Update.
      await a.query('BEGIN');
      await a.query(`UPDATE community_events SET title = 'A2' WHERE id = $1`, [idA]);
      await b.query(`UPDATE community_events SET title = 'B2' WHERE id = $1`, [idB]);
      await replica.drain();
      expect(titles()).toEqual({ [idA]: 'A', [idB]: 'B' });
      await a.query('COMMIT');
      await settle(() => titles()[idA] === 'A2' && titles()[idB] === 'B2');
      expect(replica.rows.get(idA).version).toBe(2);

      // Soft delete: tombstones travel the same feed.
      await a.query('BEGIN');
      await a.query(`UPDATE community_events SET deleted_at = now() WHERE id = $1`, [idA]);
      await b.query(`UPDATE community_events SET deleted_at = now() WHERE id = $1`, [idB]);
      const held = await replica.pull();
      expect(held).toMatchObject({ events: [], deleted: [] });
      await a.query('COMMIT');
      const deleted: string[] = [];
      await eventually(
        async () => {
          const body = await replica.pull();
          deleted.push(...body.deleted);
          return deleted;
        },
        { until: (d) => d.length === 2, timeoutMs: 15_000 },
      );
      expect(deleted.sort()).toEqual([idA, idB].sort());
      expect(replica.ids()).toEqual([]);
    } finally {
      await a.query('ROLLBACK').catch(() => undefined);
      await a.end();
      await b.end();
    }
  });

  it('randomized: concurrent writers with random commit delays and small-page syncers; every replica ends equal to the table', async () => {
    const tid = freshTenant('rnd');
    const ids = Array.from({ length: 120 }, uuid);
    const replicas = await Promise.all([0, 1, 2].map(async (i) => new Replica(await caller(t, tid, `syncer-${i}`), 'events')));
    let writing = true;
    let commits = 0;

    const writer = async () => {
      const conn = await pgClient();
      try {
        while (writing) {
          // Sorted ids: writers lock rows in one order, so they never deadlock.
          const picks = [...new Set(Array.from({ length: 1 + rand(3) }, () => ids[rand(ids.length)]))].sort();
          await conn.query('BEGIN');
          for (const id of picks) {
            if (Math.random() < 0.65)
              await conn.query(
                `INSERT INTO community_events (id, tenant_id, title, starts_at, created_by) VALUES ($1, $2, $3, now(), 'w')
                 ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, deleted_at = NULL`,
                [id, tid, `t${rand(1e9)}`],
              );
            else await conn.query(`UPDATE community_events SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL`, [id]);
            if (Math.random() < 0.3) await sleep(rand(10));
          }
          // Mostly quick commits; one in ten holds its transaction open for a while.
          await sleep(Math.random() < 0.1 ? 100 + rand(300) : rand(20));
          await conn.query('COMMIT');
          commits++;
        }
      } finally {
        await conn.end();
      }
    };
    const syncer = async (r: Replica) => {
      let previous: [bigint, string] = [0n, ''];
      while (writing) {
        await r.pull(2 + rand(6));
        const key = keyOf(r.cursor!);
        expect(after(key, previous)).toBe(true);
        previous = key;
      }
    };

    const writers = Array.from({ length: 6 }, writer);
    const syncers = replicas.map(syncer);
    await sleep(3000);
    writing = false;
    await Promise.all([...writers, ...syncers]);

    const { rows } = await db.query(
      `SELECT id::text AS id, title, version FROM community_events WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY id`,
      [tid],
    );
    const table = JSON.stringify(rows);
    const view = (r: Replica) =>
      JSON.stringify(r.ids().map((id) => ({ id, title: r.rows.get(id).title, version: r.rows.get(id).version })));
    for (const r of replicas) {
      await eventually(
        async () => {
          await r.drain(5);
          return view(r);
        },
        { until: (v) => v === table, timeoutMs: 20000 },
      );
      expect(view(r)).toBe(table);
      expect(r.pulls).toBeGreaterThan(20);
    }
    expect(commits).toBeGreaterThan(100);
    expect(rows.length).toBeGreaterThan(10);
  }, 40000);

  it('updatedAfter: a first catch-up from a time; `timestamp` then resumes exactly where the page ended', async () => {
    const tid = freshTenant();
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push(await insertEvent(db, tid));
    const m = await caller(t, tid, 'timekeeper');
    // A client that keeps only `timestamp` (seed 000) and pages of 3.
    const got: string[] = [];
    let since: string | undefined;
    let body: any;
    do {
      body = (await m.get('/sync/events', { updatedAfter: since, limit: 3 })).body;
      got.push(...body.events.map((e: any) => e.id));
      since = body.timestamp;
    } while (body.hasMore);
    expect(got.sort()).toEqual(ids.sort());

    await db.query(`UPDATE community_events SET title = 'changed' WHERE id = $1`, [ids[4]]);
    const changed = await eventually(() => m.get('/sync/events', { updatedAfter: since }), {
      until: (r) => r.body.events.length > 0,
      timeoutMs: 15_000,
    });
    expect(changed.body.events.map((e: any) => [e.id, e.title])).toEqual([[ids[4], 'changed']]);

    // updatedAfter seeds a cursor: its nextCursor carries on.
    const next = await m.get('/sync/events', { cursor: changed.body.nextCursor });
    expect(next.body).toMatchObject({ events: [], deleted: [], hasMore: false });

    // A time before anything this server remembers: everything again (safe, never a gap).
    const old = await m.get('/sync/events', { updatedAfter: '2000-01-01T00:00:00.000Z' });
    expect(old.body.events.map((e: any) => e.id).sort()).toEqual(ids.sort());
  });

  it('GET /sync/changes: several collections in one pull, one cursor, per-collection deletes', async () => {
    const tid = freshTenant();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await insertEvent(db, tid));
    const m = await caller(t, tid, 'multi');
    const first = await m.get('/sync/changes', { collections: 'events,members', limit: 2 });
    expect(first.status).toBe(200);
    expect(Object.keys(first.body).sort()).toEqual(['deleted', 'events', 'hasMore', 'members', 'nextCursor', 'timestamp']);
    expect(first.body.events).toHaveLength(2);
    expect(first.body.members.map((x: any) => x.userId)).toEqual(['multi']); // enrolled from the token
    expect(first.body.deleted).toEqual({ events: [], members: [] });
    expect(first.body.hasMore).toBe(true);

    await db.query(`UPDATE community_events SET deleted_at = now() WHERE id = $1`, [first.body.events[0].id]);
    const events = new Replica(m, 'events');
    events.apply(first.body);
    let cursor = first.body.nextCursor;
    await eventually(
      async () => {
        const page = await m.get('/sync/changes', { collections: 'events,members', cursor, limit: 2 });
        events.apply(page.body);
        cursor = page.body.nextCursor;
        return events.ids();
      },
      { until: (now) => now.length === 2 && !now.includes(first.body.events[0].id), timeoutMs: 15_000 },
    );
    expect(events.ids()).toEqual(ids.filter((id) => id !== first.body.events[0].id).sort());

    expect((await m.get('/sync/changes', { collections: 'events,sermons' })).body.code).toBe('unknown_collection');
    expect((await m.get('/sync/changes', { cursor: first.body.nextCursor.slice(0, -4) + 'AAAA' })).status).toBe(400);
  });
});
