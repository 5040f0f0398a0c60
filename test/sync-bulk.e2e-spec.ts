import type { Client } from 'pg';
import { sleep } from '../tools/scratch';
import { caller, Caller, freshTenant, pgClient, UNTHROTTLED, uuid } from './support/sync';
import { startTestApp, TestApp } from './support/test-app';

const iso = (ms: number) => new Date(ms).toISOString();

describe('sync bulk mutations', () => {
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

  const setup = async (services = 1) => {
    const tid = freshTenant('bulk');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const ids: string[] = [];
    for (let i = 0; i < services; i++) {
      const res = await admin.send('POST', '/services', { name: `Service ${i}`, startsAt: new Date().toISOString() });
      ids.push(res.body.id);
    }
    const event = (await admin.send('POST', '/events', { title: 'Dinner', startsAt: '2030-01-01T18:00:00Z', capacity: 2 })).body;
    return { tid, admin, services: ids, event };
  };
  const checkins = (who: Caller, items: unknown[], conflictResolution?: string) =>
    who.send('POST', '/sync/checkins/bulk', { checkins: items, ...(conflictResolution ? { conflictResolution } : {}) });
  const rsvps = (who: Caller, items: unknown[], conflictResolution = 'last-write-wins') =>
    who.send('POST', '/sync/events/rsvp/bulk', { rsvps: items, conflictResolution });
  /** Every row of the tenant with what a write would change: a replay that writes nothing leaves it equal. */
  const state = async (tid: string) =>
    (
      await db.query(
        `SELECT id::text, version, sync_xid::text, client_updated_at FROM community_checkins WHERE tenant_id = $1
         UNION ALL SELECT id::text, version, sync_xid::text, client_updated_at FROM community_rsvps WHERE tenant_id = $1 ORDER BY 1`,
        [tid],
      )
    ).rows;
  const ledger = async (tid: string) =>
    (await db.query(`SELECT count(*)::int AS n FROM sync_mutations WHERE tenant_id = $1`, [tid])).rows[0].n;

  it('a replayed batch returns the same results as duplicate and writes nothing', async () => {
    const { tid, services, event } = await setup(3);
    const member = await caller(t, tid, 'ann');
    const now = Date.now();
    const batch = services.map((serviceId, i) => ({ serviceId, checkinTime: iso(now - 60_000 * (i + 1)), offlineId: `c-${i}` }));
    const first = await checkins(member, batch, 'last-write-wins');
    expect(first.status).toBe(200);
    expect(first.body.results).toEqual(
      batch.map((b) => ({ offlineId: b.offlineId, status: 'created', id: expect.any(String), serverVersion: 1 })),
    );
    const rsvp = await rsvps(member, [{ offlineId: 'r-1', eventId: event.id, status: 'going' }]);
    expect(rsvp.body.results[0]).toMatchObject({ status: 'created', serverVersion: 1 });
    const before = await state(tid);
    expect(await ledger(tid)).toBe(4);

    const replay = await checkins(member, batch, 'last-write-wins');
    expect(replay.body.results).toEqual(first.body.results.map((r: any) => ({ ...r, status: 'duplicate', originalStatus: 'created' })));
    const replayedRsvp = await rsvps(member, [{ offlineId: 'r-1', eventId: event.id, status: 'going' }]);
    expect(replayedRsvp.body.results[0]).toMatchObject({ status: 'duplicate', id: rsvp.body.results[0].id, serverVersion: 1 });
    expect(await state(tid)).toEqual(before);
    expect(await ledger(tid)).toBe(4);
  });

  it('mixed valid and invalid items: each has its own result, in request order, and the valid ones apply', async () => {
    const { tid, services } = await setup(2);
    const member = await caller(t, tid, 'bob');
    const now = iso(Date.now() - 1000);
    const res = await checkins(member, [
      { serviceId: services[0], checkinTime: now, offlineId: 'ok-1' },
      { serviceId: 'not-a-uuid', checkinTime: now, offlineId: 'bad-uuid' },
      { serviceId: uuid(), checkinTime: now, offlineId: 'no-service' },
      { serviceId: services[1], checkinTime: now, offlineId: 'other-user', userId: 'carol' },
      { serviceId: services[1], checkinTime: now, checkoutTime: iso(Date.now() - 60_000), offlineId: 'out-before-in' },
      42,
      { serviceId: services[1], checkinTime: now },
      { serviceId: services[1], checkinTime: now, offlineId: 'extra', color: 'red' },
      { serviceId: services[1], checkinTime: now, offlineId: 'ok-2' },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: any) => [r.offlineId, r.status, r.error?.code])).toEqual([
      ['ok-1', 'created', undefined],
      ['bad-uuid', 'rejected', 'validation_failed'],
      ['no-service', 'rejected', 'service_not_found'],
      ['other-user', 'rejected', 'forbidden'],
      ['out-before-in', 'rejected', 'validation_failed'],
      [null, 'rejected', 'validation_failed'],
      [null, 'rejected', 'validation_failed'],
      ['extra', 'rejected', 'validation_failed'],
      ['ok-2', 'created', undefined],
    ]);
    expect(res.body.results[1].error.details).toEqual([{ field: 'serviceId', messages: ['serviceId must be a UUID'] }]);
    const { rows } = await db.query(
      `SELECT service_id::text, offline_id FROM community_checkins WHERE tenant_id = $1 ORDER BY offline_id`,
      [tid],
    );
    expect(rows).toEqual([
      { service_id: services[0], offline_id: 'ok-1' },
      { service_id: services[1], offline_id: 'ok-2' },
    ]);
    // Rejections are not recorded: once fixed, the same offlineId goes through.
    const fixed = await checkins(member, [{ serviceId: services[0], checkinTime: now, offlineId: 'out-before-in', checkoutTime: now }]);
    expect(fixed.body.results[0]).toMatchObject({ status: 'updated', serverVersion: 2 });

    // A leader's kiosk may check in others (not removed members; one never seen is enrolled: community-sites.e2e-spec.ts).
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    await admin.send('PUT', '/members/carol', { displayName: 'Carol' });
    await admin.send('PUT', '/members/nobody', {});
    await admin.send('DELETE', '/members/nobody');
    const kiosk = await checkins(admin, [
      { serviceId: services[1], checkinTime: now, offlineId: 'k-1', userId: 'carol' },
      { serviceId: services[1], checkinTime: now, offlineId: 'k-2', userId: 'nobody' },
    ]);
    expect(kiosk.body.results.map((r: any) => r.error?.code ?? r.status)).toEqual(['created', 'member_not_found']);
  });

  it('the same offlineId with a different payload (or kind) is rejected as idempotency_key_reused', async () => {
    const { tid, services, event } = await setup(1);
    const member = await caller(t, tid, 'dan');
    const t0 = iso(Date.now() - 5000);
    await checkins(member, [{ serviceId: services[0], checkinTime: t0, offlineId: 'k' }]);
    const changed = await checkins(member, [{ serviceId: services[0], checkinTime: iso(Date.now() - 1000), offlineId: 'k' }]);
    expect(changed.body.results[0]).toMatchObject({ offlineId: 'k', status: 'rejected', error: { code: 'idempotency_key_reused' } });
    const otherKind = await rsvps(member, [{ offlineId: 'k', eventId: event.id, status: 'going' }]);
    expect(otherKind.body.results[0].error.code).toBe('idempotency_key_reused');
    // Another user's offlineIds are their own.
    const other = await caller(t, tid, 'eve');
    const theirs = await checkins(other, [{ serviceId: services[0], checkinTime: t0, offlineId: 'k' }]);
    expect(theirs.body.results[0].status).toBe('created');
  });

  it('last-write-wins by client time: a stale offline edit replayed late does not undo a newer one; future times are clamped', async () => {
    const { tid, event } = await setup(0);
    const member = await caller(t, tid, 'fay');
    const now = Date.now();
    // Phone B changed the RSVP at t2 and synced first; phone A's change from t1 < t2 arrives late.
    const fromB = await rsvps(member, [{ offlineId: 'b-1', eventId: event.id, status: 'going', clientUpdatedAt: iso(now - 10_000) }]);
    expect(fromB.body.results[0]).toMatchObject({ status: 'created', serverVersion: 1 });
    const lateA = await rsvps(member, [{ offlineId: 'a-1', eventId: event.id, status: 'declined', clientUpdatedAt: iso(now - 60_000) }]);
    expect(lateA.body.results[0]).toMatchObject({
      status: 'conflict',
      id: fromB.body.results[0].id,
      serverVersion: 1,
      error: { code: 'stale_write' },
      server: { id: fromB.body.results[0].id, eventId: event.id, userId: 'fay', status: 'going', version: 1 },
    });
    const newer = await rsvps(member, [{ offlineId: 'a-2', eventId: event.id, status: 'maybe', clientUpdatedAt: iso(now - 5_000) }]);
    expect(newer.body.results[0]).toMatchObject({ status: 'updated', serverVersion: 2 });

    // A clock a day ahead must not freeze the row: its time counts as the server's.
    const ahead = await rsvps(member, [
      { offlineId: 'a-3', eventId: event.id, status: 'declined', clientUpdatedAt: iso(Date.now() + 86_400_000) },
    ]);
    expect(ahead.body.results[0]).toMatchObject({ status: 'updated', serverVersion: 3 });
    const stored = (await db.query(`SELECT client_updated_at FROM community_rsvps WHERE id = $1`, [fromB.body.results[0].id])).rows[0];
    expect(stored.client_updated_at.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    await sleep(20);
    const next = await rsvps(member, [{ offlineId: 'a-4', eventId: event.id, status: 'going', clientUpdatedAt: iso(Date.now()) }]);
    expect(next.body.results[0]).toMatchObject({ status: 'updated', serverVersion: 4 });
  });

  it('fail-on-conflict: baseVersion must match the server; a mismatch answers the server row', async () => {
    const { tid, services, event } = await setup(1);
    const member = await caller(t, tid, 'gus');
    const created = await rsvps(member, [{ offlineId: 'f-1', eventId: event.id, status: 'maybe' }], 'fail-on-conflict');
    expect(created.body.results[0]).toMatchObject({ status: 'created', serverVersion: 1 });
    const ok = await rsvps(member, [{ offlineId: 'f-2', eventId: event.id, status: 'going', baseVersion: 1 }], 'fail-on-conflict');
    expect(ok.body.results[0]).toMatchObject({ status: 'updated', serverVersion: 2 });
    const stale = await rsvps(member, [{ offlineId: 'f-3', eventId: event.id, status: 'declined', baseVersion: 1 }], 'fail-on-conflict');
    expect(stale.body.results[0]).toMatchObject({
      status: 'conflict',
      serverVersion: 2,
      error: { code: 'version_mismatch' },
      server: { status: 'going', version: 2 },
    });
    const blind = await rsvps(member, [{ offlineId: 'f-4', eventId: event.id, status: 'declined' }], 'fail-on-conflict');
    expect(blind.body.results[0]).toMatchObject({ status: 'conflict', server: { version: 2 } });
    // Conflicts write nothing and are not recorded: resolved, the same offlineId applies.
    const resolved = await rsvps(member, [{ offlineId: 'f-4', eventId: event.id, status: 'declined', baseVersion: 2 }], 'fail-on-conflict');
    expect(resolved.body.results[0]).toMatchObject({ status: 'updated', serverVersion: 3 });

    const checkin = await checkins(
      member,
      [{ offlineId: 'c-1', serviceId: services[0], checkinTime: iso(Date.now() - 60_000) }],
      'fail-on-conflict',
    );
    const checkout = await checkins(
      member,
      [{ offlineId: 'c-2', serviceId: services[0], checkinTime: iso(Date.now() - 60_000), checkoutTime: iso(Date.now()), baseVersion: 1 }],
      'fail-on-conflict',
    );
    expect(checkout.body.results[0]).toMatchObject({ status: 'updated', id: checkin.body.results[0].id, serverVersion: 2 });
    expect((await member.get(`/services/${services[0]}/counts`)).body).toMatchObject({ totalCheckins: 1, currentAttendance: 0 });

    // The RSVP the client based its change on is gone.
    await (await caller(t, tid, 'admin', ['ADMIN'])).send('DELETE', `/events/${event.id}`);
    const gone = await rsvps(member, [{ offlineId: 'f-5', eventId: event.id, status: 'going', baseVersion: 3 }], 'fail-on-conflict');
    expect(gone.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'event_not_found' } });
  });

  it('refuses capacity overflow item by item', async () => {
    const { tid, event } = await setup(0);
    const results = [];
    for (const user of ['p1', 'p2', 'p3']) {
      const who = await caller(t, tid, user);
      results.push((await rsvps(who, [{ offlineId: 'seat', eventId: event.id, status: 'going' }])).body.results[0]);
    }
    expect(results.map((r) => r.error?.code ?? r.status)).toEqual(['created', 'created', 'event_full']);
  });

  it('501 items is 413 in the error shape; 500 are fine; items go under `checkins` or `items`, not both', async () => {
    const { tid, services } = await setup(1);
    const member = await caller(t, tid, 'hal');
    const base = Date.now() - 600_000;
    const items = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => ({ serviceId: services[0], checkinTime: iso(base + i * 1000), offlineId: `${prefix}-${i}` }));
    const tooMany = await checkins(member, items(501, 'x'));
    expect(tooMany.status).toBe(413);
    expect(tooMany.body).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      code: 'payload_too_large',
      message: expect.stringMatching(/500/),
      details: [{ max: 500, received: 501 }],
      requestId: expect.any(String),
    });
    expect(await ledger(tid)).toBe(0);
    const full = await member.send('POST', '/sync/checkins/bulk', { items: items(500, 'y') });
    expect(full.status).toBe(200);
    expect(full.body.results).toHaveLength(500);
    expect(full.body.results[0].status).toBe('created');
    expect(full.body.results[499]).toMatchObject({ status: 'updated', serverVersion: 500 });
    const both = await member.send('POST', '/sync/checkins/bulk', { items: [], checkins: [] });
    expect(both.body.code).toBe('validation_failed');
    const neither = await member.send('POST', '/sync/checkins/bulk', { conflictResolution: 'last-write-wins' });
    expect(neither.status).toBe(400);
    const badStrategy = await member.send('POST', '/sync/checkins/bulk', { items: [], conflictResolution: 'first-wins' });
    expect(badStrategy.body.code).toBe('validation_failed');
  });

  it('concurrent replays of one batch from two connections create each row once', async () => {
    const { tid, services } = await setup(1);
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const members = Array.from({ length: 40 }, (_, i) => `m${i}`);
    for (const m of members) await admin.send('PUT', `/members/${m}`, {});

    for (let round = 0; round < 3; round++) {
      const batch = members.map((userId) => ({
        serviceId: services[0],
        userId,
        checkinTime: iso(Date.now() - 1000),
        offlineId: `r${round}-${userId}`,
      }));
      const [a, b] = await Promise.all([checkins(admin, batch), checkins(admin, batch)]);
      for (let i = 0; i < batch.length; i++) {
        const pair = [a.body.results[i], b.body.results[i]];
        expect(pair.map((r) => r.status).sort()).toEqual(round === 0 ? ['created', 'duplicate'] : ['duplicate', 'updated']);
        expect(pair[0].id).toBe(pair[1].id);
      }
    }
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM community_checkins WHERE tenant_id = $1`, [tid]);
    expect(rows[0].n).toBe(members.length);

    // The same race, pinned down: the second call waits for the first transaction, then answers duplicate.
    const first = await pgClient();
    const second = await pgClient();
    try {
      const items = JSON.stringify([
        {
          offlineId: 'pinned',
          hash: 'h',
          data: {
            offlineId: 'pinned',
            serviceId: services[0],
            userId: 'admin',
            checkinTime: iso(Date.now()),
            checkoutTime: null,
            clientUpdatedAt: null,
            baseVersion: null,
          },
        },
      ]);
      const call = `SELECT result FROM sync_apply_batch($1, 'admin', 'checkins', 'community_apply_checkin', 'last-write-wins', $2::jsonb)`;
      await first.query('BEGIN');
      const created = (await first.query(call, [tid, items])).rows[0].result;
      expect(created.status).toBe('created');
      let done = false;
      const waiting = second.query(call, [tid, items]).then((r) => ((done = true), r.rows[0].result));
      await sleep(300);
      expect(done).toBe(false);
      await first.query('COMMIT');
      expect(await waiting).toEqual({ ...created, status: 'duplicate', originalStatus: 'created' });
    } finally {
      await first.end();
      await second.end();
    }
  });
});

describe('sync rate limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ SYNC_READS_PER_MINUTE: '2', SYNC_BULK_PER_MINUTE: '1' });
  });
  afterAll(() => t.close());

  it('counts sync reads together and bulk writes together, per user, answering 429 with Retry-After', async () => {
    const tid = freshTenant('rl');
    const me = await caller(t, tid, 'busy');
    expect((await me.get('/sync/events')).status).toBe(200);
    expect((await me.get('/sync/members')).status).toBe(200);
    const limited = await me.get('/sync/changes');
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);

    expect((await me.send('POST', '/sync/checkins/bulk', { checkins: [] })).status).toBe(200);
    const bulkLimited = await me.send('POST', '/sync/events/rsvp/bulk', { rsvps: [] });
    expect(bulkLimited.status).toBe(429);
    expect(bulkLimited.headers['retry-after']).toBeTruthy();

    // Other users have their own counters; other routes the global limit.
    const other = await caller(t, tid, 'calm');
    expect((await other.get('/sync/events')).status).toBe(200);
    expect((await me.get('/services')).status).toBe(200);
  });
});
