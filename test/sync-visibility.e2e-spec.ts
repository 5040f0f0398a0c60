import { eventually } from '../tools/scratch';
import { caller, Caller, freshTenant, Replica, UNTHROTTLED, uuid } from './support/sync';
import { startTestApp, TestApp } from './support/test-app';

describe('sync visibility: access changes are changes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(UNTHROTTLED);
  });
  afterAll(() => t.close());

  const create = async (who: Caller, path: string, body: object) => {
    const res = await who.send('POST', path, body);
    expect(res.status).toBe(201);
    return res.body;
  };
  /** Pulls until the replica's ids satisfy `check` (the feed serves a change once its transaction is below the watermark). */
  const until = (r: Replica, check: (ids: string[]) => boolean) =>
    eventually(
      async () => {
        await r.drain();
        return r.ids();
      },
      { until: check, timeoutMs: 15_000 },
    );

  it('an invitation opens a private event in the next pull although the event did not change; revoking it deletes it', async () => {
    const tid = freshTenant('vis');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const member = await caller(t, tid, 'ann');
    const open = await create(admin, '/events', { title: 'Picnic', startsAt: '2030-01-01T10:00:00Z' });
    const secret = await create(admin, '/events', { title: 'Board', startsAt: '2030-01-02T10:00:00Z', visibility: 'private' });
    const replica = new Replica(member, 'events');
    await until(replica, (ids) => ids.includes(open.id));
    expect(replica.ids()).toEqual([open.id]);

    const invited = await admin.send('PATCH', `/events/${secret.id}`, { invitees: ['ann'] });
    expect(invited.status).toBe(200);
    expect(invited.body).toMatchObject({ version: 1, invitees: ['ann'] }); // the event row itself is untouched
    await until(replica, (ids) => ids.includes(secret.id));
    expect(replica.rows.get(secret.id)).toMatchObject({ title: 'Board', visibility: 'private', version: 1 });

    const revoked = await admin.send('PATCH', `/events/${secret.id}`, { invitees: [] });
    expect(revoked.body.invitees).toEqual([]);
    let deleted: string[] = [];
    await eventually(
      async () => {
        const body = await replica.pull();
        deleted = deleted.concat(body.deleted);
        return deleted;
      },
      { until: (d) => d.includes(secret.id), timeoutMs: 15_000 },
    );
    expect(replica.ids()).toEqual([open.id]);

    // A fresh client of the same member never hears of the event at all (no delete for a row it never had).
    const fresh = await member.get('/sync/events');
    expect(fresh.body.events.map((e: any) => e.id)).toEqual([open.id]);
    expect(fresh.body.deleted).toEqual([]);
    // Re-inviting opens it again.
    await admin.send('PATCH', `/events/${secret.id}`, { invitees: ['ann', 'bob'] });
    await until(replica, (ids) => ids.includes(secret.id));
  });

  it('a role change re-evaluates every row that depends on it: private events and other members’ RSVPs and check-ins', async () => {
    const tid = freshTenant('role');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const lee = await caller(t, tid, 'lee');
    const other = await caller(t, tid, 'other');
    const secret = await create(admin, '/events', { title: 'Leaders only', startsAt: '2030-01-02T10:00:00Z', visibility: 'private' });
    const open = await create(admin, '/events', { title: 'Open', startsAt: '2030-01-03T10:00:00Z' });
    const service = await create(admin, '/services', { name: 'Sunday', startsAt: new Date().toISOString() });
    const rsvp = await other.send('POST', '/sync/events/rsvp/bulk', { rsvps: [{ offlineId: uuid(), eventId: open.id, status: 'going' }] });
    expect(rsvp.body.results[0].status).toBe('created');
    const checkin = await other.send('POST', '/sync/checkins/bulk', {
      checkins: [{ offlineId: uuid(), serviceId: service.id, checkinTime: new Date().toISOString() }],
    });
    expect(checkin.body.results[0].status).toBe('created');

    const events = new Replica(lee, 'events');
    const rsvps = new Replica(lee, 'rsvps');
    const checkins = new Replica(lee, 'checkins');
    await until(events, (ids) => ids.includes(open.id));
    await rsvps.drain();
    await checkins.drain();
    expect(events.ids()).toEqual([open.id]);
    expect(rsvps.ids()).toEqual([]);
    expect(checkins.ids()).toEqual([]);

    const promoted = await admin.send('PUT', '/members/lee', { roles: ['LEADER'] });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ userId: 'lee', roles: ['LEADER'] });
    await until(events, (ids) => ids.includes(secret.id));
    await until(rsvps, (ids) => ids.includes(rsvp.body.results[0].id));
    await until(checkins, (ids) => ids.includes(checkin.body.results[0].id));

    // Changes that do not change what lee may see re-send nothing (a second privileged role, a new name).
    await admin.send('PUT', '/members/lee', { displayName: 'Lee', roles: ['LEADER', 'ADMIN'] });
    const again = await lee.get('/sync/events', { cursor: events.cursor });
    expect(again.body).toMatchObject({ events: [], deleted: [] });

    await admin.send('PUT', '/members/lee', { roles: ['MEMBER'] });
    await until(events, (ids) => !ids.includes(secret.id));
    await until(rsvps, (ids) => ids.length === 0);
    await until(checkins, (ids) => ids.length === 0);
    expect(events.ids()).toEqual([open.id]);
  });

  it('members: inactive members disappear from other members’ replicas, not from their own or a leader’s', async () => {
    const tid = freshTenant('mem');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const ann = await caller(t, tid, 'ann');
    const bob = await caller(t, tid, 'bob');
    const annView = new Replica(ann, 'members');
    const bobView = new Replica(bob, 'members');
    const bobEvents = new Replica(bob, 'events');
    const adminView = new Replica(admin, 'members');
    // Members are enrolled from their token on their first request.
    await Promise.all([admin, ann, bob].map((c) => c.get('/services')));
    const names = (r: Replica) => [...r.rows.values()].map((m) => m.userId).sort();
    await eventually(
      async () => {
        await annView.drain();
        return names(annView);
      },
      { until: (n) => n.length === 3, timeoutMs: 15_000 },
    );
    expect(names(annView)).toEqual(['admin', 'ann', 'bob']);

    await bobEvents.drain();
    await admin.send('PUT', '/members/bob', { status: 'inactive' });
    await eventually(
      async () => {
        await annView.drain();
        return names(annView);
      },
      { until: (n) => !n.includes('bob'), timeoutMs: 15_000 },
    );
    await bobView.drain();
    expect(names(bobView)).toEqual(['admin', 'ann', 'bob']);
    // Bob was no leader: deactivating him changes nothing he sees elsewhere, so nothing is re-sent.
    expect((await bob.get('/sync/events', { cursor: bobEvents.cursor })).body).toMatchObject({ events: [], deleted: [] });
    await adminView.drain();
    expect([...adminView.rows.values()].find((m) => m.userId === 'bob')).toMatchObject({ status: 'inactive' });

    await admin.send('PUT', '/members/bob', { status: 'active' });
    await eventually(
      async () => {
        await annView.drain();
        return names(annView);
      },
      { until: (n) => n.includes('bob'), timeoutMs: 15_000 },
    );
    expect((await admin.send('DELETE', '/members/bob')).status).toBe(204);
    await eventually(
      async () => {
        await annView.drain();
        return names(annView);
      },
      { until: (n) => !n.includes('bob'), timeoutMs: 15_000 },
    );
    expect((await admin.send('DELETE', '/members/bob')).body.code).toBe('member_not_found');
  });

  it('never leaks across tenants: feeds, counts, changes and mutations are scoped by the caller’s tenant', async () => {
    const [a, b] = [freshTenant('ta'), freshTenant('tb')];
    const adminA = await caller(t, a, 'admin', ['ADMIN']);
    const adminB = await caller(t, b, 'admin', ['ADMIN']);
    const memberA = await caller(t, a, 'same-user');
    const memberB = await caller(t, b, 'same-user');
    const event = await create(adminA, '/events', { title: 'A only', startsAt: '2030-01-01T10:00:00Z' });
    const service = await create(adminA, '/services', { name: 'A service', startsAt: new Date().toISOString() });
    await memberA.send('POST', '/sync/checkins/bulk', {
      checkins: [{ offlineId: 'x1', serviceId: service.id, checkinTime: new Date().toISOString() }],
    });
    await memberA.send('POST', '/sync/events/rsvp/bulk', { rsvps: [{ offlineId: 'x2', eventId: event.id, status: 'going' }] });
    await memberA.send('POST', `/services/${service.id}/checkins`, {});

    const seenByA = new Replica(adminA, 'checkins');
    await eventually(
      async () => {
        await seenByA.drain();
        return seenByA.ids();
      },
      { until: (ids) => ids.length === 1, timeoutMs: 15_000 },
    );
    for (const collection of ['events', 'members', 'rsvps', 'checkins']) {
      const replica = new Replica(adminB, collection);
      await replica.drain();
      const own = collection === 'members' ? ['admin'] : [];
      expect([...replica.rows.values()].map((r) => r.userId ?? null).filter(Boolean)).toEqual(own);
      if (collection !== 'members') expect(replica.ids()).toEqual([]);
    }
    const changes = await memberB.get('/sync/changes');
    expect(changes.body).toMatchObject({ events: [], rsvps: [], checkins: [] });
    expect(changes.body.members.map((m: any) => m.userId).sort()).toEqual(['admin', 'same-user']); // B's own members

    // The same offlineIds in tenant B are B's own: nothing is "duplicate", and A's rows cannot be reached.
    const checkinB = await memberB.send('POST', '/sync/checkins/bulk', {
      checkins: [{ offlineId: 'x1', serviceId: service.id, checkinTime: new Date().toISOString() }],
    });
    expect(checkinB.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'service_not_found' } });
    const rsvpB = await memberB.send('POST', '/sync/events/rsvp/bulk', {
      rsvps: [{ offlineId: 'x2', eventId: event.id, status: 'going' }],
    });
    expect(rsvpB.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'event_not_found' } });
    expect((await memberB.send('POST', `/services/${service.id}/checkins`, {})).status).toBe(404);
    expect((await memberB.get(`/services/${service.id}/counts`)).status).toBe(404);
    expect((await memberB.get('/live/service-counts')).body.services).toEqual([]);
    expect((await memberB.get('/services')).body.services).toEqual([]);
    expect((await adminB.send('PATCH', `/events/${event.id}`, { title: 'hijacked' })).status).toBe(404);
    expect((await adminB.send('DELETE', `/events/${event.id}`)).status).toBe(404);
    expect((await adminB.send('PATCH', `/services/${service.id}`, { name: 'hijacked' })).status).toBe(404);
    expect((await adminB.send('DELETE', `/services/${service.id}`)).status).toBe(404);
    // A's data is intact and A's live counts see A's check-in.
    const live = await memberA.get('/live/service-counts');
    expect(live.body.services).toEqual([expect.objectContaining({ serviceId: service.id, totalCheckins: 1, currentAttendance: 1 })]);
  });
});
