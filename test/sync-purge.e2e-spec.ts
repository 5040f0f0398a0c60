import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { SyncService } from '../src/modules/sync/sync.service';
import { createDatabase, dropDatabase, eventually, scratchDatabase } from '../tools/scratch';
import { caller, freshTenant, pgClient, Replica, UNTHROTTLED, uuid } from './support/sync';
import { startTestApp, TestApp } from './support/test-app';

/**
 * Purging moves a collection's watermark for every tenant, so this runs against a database of its
 * own: cursors held by other test files stay valid.
 */
describe('tombstone purge and sync reset', () => {
  const scratch = scratchDatabase('test', `tether_purge_${randomBytes(4).toString('hex')}`);
  const url = scratch.url;
  let t: TestApp;
  let db: Client;

  beforeAll(async () => {
    await createDatabase(scratch, { migrate: true });
    t = await startTestApp({ ...UNTHROTTLED, DATABASE_URL: url, SYNC_RETENTION_DAYS: '30' });
    db = await pgClient(url);
  });
  afterAll(async () => {
    await db?.end();
    await t?.close();
    await dropDatabase(scratch);
  });

  it('a cursor older than a purged tombstone gets 410 sync_reset_required; newer cursors and a fresh sync carry on', async () => {
    const tid = freshTenant('purge');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const member = await caller(t, tid, 'ida');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await admin.send('POST', '/events', { title: `E${i}`, startsAt: '2030-01-01T10:00:00Z' })).body.id);
    const rsvp = await member.send('POST', '/sync/events/rsvp/bulk', { rsvps: [{ offlineId: uuid(), eventId: ids[0], status: 'going' }] });
    expect(rsvp.body.results[0].status).toBe('created');

    const stale = new Replica(member, 'events');
    await eventually(
      async () => {
        await stale.drain();
        return stale.ids();
      },
      { until: (got) => got.length === 3, timeoutMs: 15_000 },
    );
    const staleCursor = stale.cursor!;
    const staleTime = (await member.get('/sync/events')).body.timestamp;

    // Deleted 40 days ago (deleting an event deletes its RSVPs too).
    expect((await admin.send('DELETE', `/events/${ids[0]}`)).status).toBe(204);
    await db.query(`UPDATE community_events SET deleted_at = now() - interval '40 days' WHERE id = $1`, [ids[0]]);
    await db.query(`UPDATE community_rsvps SET deleted_at = now() - interval '40 days' WHERE event_id = $1`, [ids[0]]);
    // Old ledger entries go too.
    await db.query(`UPDATE sync_mutations SET created_at = now() - interval '40 days' WHERE tenant_id = $1`, [tid]);

    // A client that has seen the delete.
    const current = new Replica(member, 'events');
    await eventually(
      async () => {
        await current.drain();
        return current.ids();
      },
      { until: (got) => got.length === 2, timeoutMs: 15_000 },
    );

    // Another pod holds the purge: this one skips its turn.
    const other = await pgClient(url);
    await other.query(`SELECT pg_advisory_lock(hashtext('tether:sync:purge'))`);
    expect(await t.app.get(SyncService).purge()).toBeNull();
    await other.end();

    const report = await t.app.get(SyncService).purge();
    expect(report).toMatchObject({ tombstones: { community_events: 1, community_rsvps: 1, community_event_invites: 0 }, ledger: 1 });
    expect((await db.query(`SELECT count(*)::int AS n FROM community_events WHERE id = $1`, [ids[0]])).rows[0].n).toBe(0);
    const marks = (await db.query(`SELECT collection FROM sync_purge_marks ORDER BY 1`)).rows.map((r) => r.collection);
    expect(marks).toEqual(['events', 'rsvps']);

    const reset = await member.get('/sync/events', { cursor: staleCursor });
    expect(reset.status).toBe(410);
    expect(reset.body).toMatchObject({ statusCode: 410, code: 'sync_reset_required', details: [{ collection: 'events' }] });
    const resetByTime = await member.get('/sync/events', { updatedAfter: staleTime });
    expect(resetByTime.body.code).toBe('sync_reset_required');
    const before = await member.get('/sync/events', { updatedAfter: '2000-01-01T00:00:00.000Z' });
    expect(before.status).toBe(410);

    const carryOn = await member.get('/sync/events', { cursor: current.cursor });
    expect(carryOn.status).toBe(200);
    const fresh = new Replica(member, 'events');
    await fresh.drain();
    expect(fresh.ids()).toEqual(ids.slice(1).sort());
    // Collections with nothing purged are unaffected.
    expect((await member.get('/sync/members', { updatedAfter: '2000-01-01T00:00:00.000Z' })).status).toBe(200);
  });
});
