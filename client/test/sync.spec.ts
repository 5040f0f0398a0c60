import { realClock } from '../src/context';
import { ChangesPage, SyncClient, SyncPage } from '../src/sync';
import { context, eventually, freshTenant, jsonResponse, Server, startServer } from './data-support';

describe('SyncClient against the real server', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer();
  }, 60_000);
  afterAll(() => server?.close(), 30_000);

  /** A tenant with `n` public events, all visible to the sync feed. */
  const seed = async (n: number) => {
    const tid = freshTenant('sdksync');
    const admin = await context(server, { tid, sub: 'admin', roles: ['ADMIN'] });
    const ids: string[] = [];
    for (let i = 0; i < n; i++)
      ids.push((await admin.ctx.http.post<{ id: string }>('/events', { title: `E${i}`, startsAt: '2030-01-01T10:00:00Z' })).id);
    // The feed shows a write once every older transaction of the cluster ended: wait for that once.
    await eventually(
      () => admin.ctx.http.get<{ events: unknown[] }>('/sync/events', { query: { limit: 500 } }),
      (page) => page.events.length === n,
    );
    return { tid, admin, ids: ids.sort() };
  };
  const idsOf = (pages: SyncPage<{ id: string }>[]) => pages.flatMap((p) => p.upserts.map((i) => i.id)).sort();

  it('follows nextCursor until hasMore is false and stores the cursor only after apply resolved', async () => {
    const { tid, ids, admin } = await seed(5);
    const member = await context(server, { tid, sub: 'ann' });
    const sync = new SyncClient(member.ctx);
    const pages: SyncPage<{ id: string }>[] = [];
    const storedDuringApply: unknown[] = [];
    const events = sync.collection<{ id: string }>('events', {
      limit: 2,
      apply: async (page) => {
        storedDuringApply.push(await member.ctx.store.get('sync:events'));
        await new Promise((r) => setTimeout(r, 20));
        pages.push(page);
      },
    });
    const run = events.pull();
    expect(events.pull()).toBe(run); // concurrent calls share one run
    await run;
    expect(pages.map((p) => p.upserts.length)).toEqual([2, 2, 1]);
    expect(pages.every((p) => Array.isArray(p.deletes) && typeof p.timestamp === 'string' && !p.reset)).toBe(true);
    expect(idsOf(pages)).toEqual(ids);
    const cursors = member.sent.map((s) => new URL(s.url, 'http://x').searchParams.get('cursor'));
    expect(cursors[0]).toBeNull();
    // While page n was applied, the store still held the cursor that fetched it.
    expect(storedDuringApply).toEqual([undefined, cursors[1], cursors[2]]);
    const last = await member.ctx.store.get<string>('sync:events');
    expect(typeof last).toBe('string');

    // Changes since: a delete and a new event arrive in the next pull, from the stored cursor.
    await admin.ctx.http.request('DELETE', `/events/${ids[0]}`);
    const added = (await admin.ctx.http.post<{ id: string }>('/events', { title: 'later', startsAt: '2030-01-02T10:00:00Z' })).id;
    pages.length = 0;
    await eventually(
      async () => {
        await events.pull();
        return pages;
      },
      (got) => got.some((p) => p.deletes.includes(ids[0])) && idsOf(got).includes(added),
    );
    expect(member.sent[3].url).toContain(`cursor=${encodeURIComponent(last!)}`);
  });

  it('an apply that throws leaves the cursor of the last applied page; the next pull resumes there', async () => {
    const { tid, ids } = await seed(5);
    const member = await context(server, { tid, sub: 'bob' });
    const sync = new SyncClient(member.ctx);
    const applied: SyncPage<{ id: string }>[] = [];
    let fail = true;
    const events = sync.collection<{ id: string }>('events', {
      limit: 2,
      apply: (page) => {
        if (applied.length === 1 && fail) throw new Error('disk full');
        applied.push(page);
      },
    });
    await expect(events.pull()).rejects.toThrow('disk full');
    const second = new URL(member.sent[1].url, 'http://x').searchParams.get('cursor');
    expect(await member.ctx.store.get('sync:events')).toBe(second);
    fail = false;
    await events.pull();
    expect(new URL(member.sent[2].url, 'http://x').searchParams.get('cursor')).toBe(second);
    expect(applied.map((p) => p.upserts.length)).toEqual([2, 2, 1]);
    expect(idsOf(applied)).toEqual(ids);
  });

  it('waits out 429 Retry-After and asks again with the same cursor', async () => {
    const { tid, ids } = await seed(3);
    let limited = 0;
    const sleeps: number[] = [];
    const member = await context(
      server,
      { tid, sub: 'cy' },
      {
        clock: { now: () => Date.now(), sleep: (ms) => (sleeps.push(ms), realClock.sleep(0)) },
        hook: (url, _init, forward) =>
          url.includes('cursor=') && !limited++
            ? Promise.resolve(jsonResponse(429, { statusCode: 429, code: 'rate_limited', message: 'slow down' }, { 'Retry-After': '2' }))
            : forward(),
      },
    );
    const applied: SyncPage<{ id: string }>[] = [];
    await new SyncClient(member.ctx).collection<{ id: string }>('events', { limit: 2, apply: (p) => void applied.push(p) }).pull();
    expect(sleeps).toEqual([2000]);
    expect(member.sent.map((s) => s.url)).toEqual([member.sent[0].url, member.sent[1].url, member.sent[1].url]);
    expect(idsOf(applied)).toEqual(ids);
  });

  it('on 410 sync_reset_required applies a reset, forgets the cursor and syncs again from scratch', async () => {
    const { tid, ids } = await seed(3);
    let gone = false;
    const member = await context(
      server,
      { tid, sub: 'dee' },
      {
        hook: (url, _init, forward) => {
          if (!gone || !url.includes('cursor=')) return forward();
          gone = false;
          return Promise.resolve(jsonResponse(410, { statusCode: 410, code: 'sync_reset_required', message: 'cursor too old' }));
        },
      },
    );
    const applied: SyncPage<{ id: string }>[] = [];
    const events = new SyncClient(member.ctx).collection<{ id: string }>('events', { apply: (p) => void applied.push(p) });
    await events.pull();
    const cursor = await member.ctx.store.get<string>('sync:events');
    expect(cursor).toBeDefined();
    applied.length = 0;
    gone = true;
    const before = member.sent.length;
    await events.pull();
    expect(applied[0]).toEqual({ reset: true, upserts: [], deletes: [] });
    expect(idsOf(applied.slice(1))).toEqual(ids);
    const urls = member.sent.slice(before).map((s) => s.url);
    expect(urls[0]).toContain('cursor=');
    expect(urls[1]).not.toContain('cursor=');
    expect(await member.ctx.store.get('sync:events')).toEqual(expect.any(String));
  });

  it('changes() pulls several collections with one cursor, upserts and deletes per collection', async () => {
    const { tid, ids, admin } = await seed(3);
    const member = await context(server, { tid, sub: 'eve' });
    const pages: ChangesPage[] = [];
    const sync = new SyncClient(member.ctx);
    const pull = () => sync.changes(['members', 'events'], { limit: 2, apply: (p) => void pages.push(p) });
    await pull();
    expect(member.sent[0].url).toMatch(/^\/sync\/changes\?collections=events%2Cmembers&limit=2$/);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(pages.every((p) => Array.isArray(p.collections.members?.upserts) && Array.isArray(p.collections.events.deletes))).toBe(true);
    expect(pages.flatMap((p) => p.collections.events.upserts.map((i) => (i as { id: string }).id)).sort()).toEqual(ids);
    expect(await member.ctx.store.get('sync:changes:events,members')).toEqual(expect.any(String));

    await admin.ctx.http.request('DELETE', `/events/${ids[1]}`);
    pages.length = 0;
    await eventually(
      async () => {
        await pull();
        return pages;
      },
      (got) => got.some((p) => p.collections.events.deletes.includes(ids[1])),
    );
  });
});
