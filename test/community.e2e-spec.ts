import type { Client } from 'pg';
import request from 'supertest';
import { eventually } from '../tools/scratch';
import { connect, ClientSocket, next, request as ask } from './support/sockets';
import { caller, freshTenant, pgClient, Replica, UNTHROTTLED, uuid } from './support/sync';
import { startTestApp, TestApp } from './support/test-app';

type MobileEvent = Record<string, unknown>;
interface OfflineCheckin {
  serviceId: string;
  checkinTime: string;
  offlineId: string;
}

describe('community', () => {
  let t: TestApp;
  let db: Client;
  const sockets: ClientSocket[] = [];
  beforeAll(async () => {
    t = await startTestApp(UNTHROTTLED);
    db = await pgClient();
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(async () => {
    await db.end();
    await t.close();
  });
  const subscribe = async (token: string, channels: string[]) => {
    const socket = await connect(t.url, token);
    sockets.push(socket);
    const ack = await ask(socket, 'subscribe', { channels });
    expect(ack.subscribed).toEqual(channels);
    return socket;
  };

  it("seed 000's client works as written: syncEvents and syncOfflineCheckins, and the count update reaches a subscribed socket", async () => {
    const tid = freshTenant('seed');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const service = (await admin.send('POST', '/services', { name: 'Sunday', startsAt: new Date().toISOString() })).body;
    const first = (await admin.send('POST', '/events', { title: 'Youth night', startsAt: '2030-01-01T18:00:00Z' })).body;

    // The environment the seed's snippet assumes: an access token, AsyncStorage, and fetch on the API's origin.
    const authToken = await t.token({ sub: 'member-7', tid, roles: ['MEMBER'] });
    const storage = new Map<string, string>();
    const AsyncStorage = { setItem: async (k: string, v: string) => void storage.set(k, v) };
    // Typed as the DOM's fetch the seed was written against (json() is any there).
    const fetch = (input: string, init?: RequestInit): Promise<{ json(): Promise<any> }> => globalThis.fetch(new URL(input, t.url), init);
    const local = { events: [] as MobileEvent[], checkins: [] as unknown[] };

    // ---- seed 000, "3. Offline Sync Implementation", verbatim apart from the two storage hooks ----
    class OfflineSyncService {
      async storeEventsLocally(events: MobileEvent[]) {
        local.events.push(...events);
      }
      async updateLocalCheckins(results: unknown[]) {
        local.checkins.push(...results);
      }

      async syncEvents(lastSyncTime?: string): Promise<MobileEvent[]> {
        const params = new URLSearchParams();
        if (lastSyncTime) {
          params.append('updatedAfter', lastSyncTime);
        }
        params.append('limit', '50');

        const response = await fetch(`/api/mobile/v1/sync/events?${params}`, {
          headers: { Authorization: `Bearer ${authToken}` },
        });

        const data = await response.json();

        // Store events in local database
        await this.storeEventsLocally(data.events);

        // Update last sync time
        await AsyncStorage.setItem('last-event-sync', data.timestamp);

        return data.events;
      }

      async syncOfflineCheckins(checkins: OfflineCheckin[]): Promise<void> {
        const response = await fetch('/api/mobile/v1/sync/checkins/bulk', {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${authToken}`,
            'Content-Type': 'application/json',
          },
          body: JSON.stringify({
            checkins: checkins.map((c) => ({
              serviceId: c.serviceId,
              checkinTime: c.checkinTime,
              offlineId: c.offlineId,
            })),
            conflictResolution: 'last-write-wins',
          }),
        });

        const result = await response.json();

        // Update local storage with server IDs
        await this.updateLocalCheckins(result.results);
      }
    }
    // ---- end of seed 000 ----

    const client = new OfflineSyncService();
    const events = await client.syncEvents();
    expect(events.map((e) => e.id)).toEqual([first.id]);
    const lastSync = storage.get('last-event-sync')!;
    expect(lastSync).toEqual(expect.stringMatching(/^\d{4}-.*Z$/));

    const second = (await admin.send('POST', '/events', { title: 'Choir', startsAt: '2030-01-02T18:00:00Z' })).body;
    const since = await eventually(() => client.syncEvents(lastSync), { until: (got) => got.length > 0, timeoutMs: 15_000 });
    expect(since.map((e) => e.id)).toEqual([second.id]);

    const socket = await subscribe(authToken, ['service:counts']);
    const update = next<any>(socket, 'service:count_update');
    const offline: OfflineCheckin[] = [
      { serviceId: service.id, checkinTime: new Date(Date.now() - 30_000).toISOString(), offlineId: uuid() },
    ];
    await client.syncOfflineCheckins(offline);
    expect(local.checkins).toEqual([{ offlineId: offline[0].offlineId, status: 'created', id: expect.any(String), serverVersion: 1 }]);
    const [payload, meta] = await update;
    expect(payload).toEqual({ serviceId: service.id, totalCheckins: 1, currentAttendance: 1, timestamp: expect.any(String) });
    expect(meta).toEqual({ channel: 'service:counts', offset: expect.any(String) });
    // Replayed after a flaky network: same answer, nothing new.
    await client.syncOfflineCheckins(offline);
    expect(local.checkins[1]).toMatchObject({ status: 'duplicate', id: (local.checkins[0] as { id: string }).id });
  });

  it('events: leaders, admins and the server write them; validation; deletes reach sync with their RSVPs', async () => {
    const tid = freshTenant('ev');
    const member = await caller(t, tid, 'mia');
    const leader = await caller(t, tid, 'leo', ['LEADER']);
    const server = await caller(t, tid, 'backend', ['SERVICE']);
    expect((await member.send('POST', '/events', { title: 'Nope', startsAt: '2030-01-01T10:00:00Z' })).body.code).toBe('forbidden');
    const created = await server.send('POST', '/events', {
      title: 'Retreat',
      description: 'Two days away',
      location: 'Lake house',
      startsAt: '2030-05-01T09:00:00Z',
      endsAt: '2030-05-02T17:00:00Z',
      capacity: 40,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ title: 'Retreat', capacity: 40, visibility: 'public', version: 1, invitees: [] });
    expect(
      (await leader.send('POST', '/events', { title: 'x', startsAt: '2030-05-01T09:00:00Z', endsAt: '2030-04-01T09:00:00Z' })).body,
    ).toMatchObject({ code: 'validation_failed', details: [{ field: 'endsAt' }] });
    expect((await leader.send('POST', '/events', { title: 'x', startsAt: 'soon' })).body.code).toBe('validation_failed');
    expect((await leader.send('PATCH', `/events/${created.body.id}`, { title: null })).body.code).toBe('validation_failed');
    expect((await leader.send('PATCH', `/events/not-a-uuid`, { title: 'y' })).body.code).toBe('validation_failed');

    const patched = await leader.send('PATCH', `/events/${created.body.id}`, { location: null, capacity: 50 });
    expect(patched.body).toMatchObject({ location: null, capacity: 50, version: 2 });
    const rsvp = await member.send('POST', '/sync/events/rsvp/bulk', {
      rsvps: [{ offlineId: uuid(), eventId: created.body.id, status: 'going' }],
    });
    expect(rsvp.body.results[0].status).toBe('created');

    const events = new Replica(member, 'events');
    const rsvps = new Replica(member, 'rsvps');
    await eventually(async () => (await events.drain(), events.ids()), { until: (ids) => ids.length === 1, timeoutMs: 15_000 });
    await eventually(async () => (await rsvps.drain(), rsvps.ids()), { until: (ids) => ids.length === 1, timeoutMs: 15_000 });
    expect(events.rows.get(created.body.id)).toMatchObject({ capacity: 50, location: null });

    expect((await leader.send('DELETE', `/events/${created.body.id}`)).status).toBe(204);
    expect((await leader.send('DELETE', `/events/${created.body.id}`)).body.code).toBe('event_not_found');
    const gone: string[] = [];
    await eventually(
      async () => {
        const e = await events.pull();
        const r = await rsvps.pull();
        gone.push(...e.deleted, ...r.deleted);
        return gone;
      },
      { until: (ids) => ids.length === 2, timeoutMs: 15_000 },
    );
    expect(gone.sort()).toEqual([created.body.id, rsvp.body.results[0].id].sort());
  });

  it('documents survive any text: quotes, backslashes, control characters, unicode', async () => {
    const tid = freshTenant('esc');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const title = 'He said "hi" \\ left\n\ttab \u0001\u001f </script> ☃ 🎉 \u2028';
    const description = '{"not":"json"}\r\n' + 'x'.repeat(5000);
    const created = await admin.send('POST', '/events', { title, description, location: "O'Brien's hall" });
    expect(created.status).toBe(400); // startsAt missing: the pipe answers before anything is stored
    const ok = await admin.send('POST', '/events', { title, description, location: "O'Brien's hall", startsAt: '2030-01-01T00:00:00.5Z' });
    expect(ok.body).toMatchObject({ title, description, location: "O'Brien's hall", startsAt: '2030-01-01T00:00:00.500Z' });
    await admin.send('PUT', '/members/admin', { displayName: 'Zoë "Z" \\ Ω' });
    const events = new Replica(admin, 'events');
    const members = new Replica(admin, 'members');
    await eventually(async () => (await events.drain(), events.ids()), { until: (ids) => ids.length === 1, timeoutMs: 15_000 });
    await eventually(async () => (await members.drain(), members.ids()), { until: (ids) => ids.length === 1, timeoutMs: 15_000 });
    expect(events.rows.get(ok.body.id)).toMatchObject({ title, description });
    expect([...members.rows.values()][0]).toMatchObject({ displayName: 'Zoë "Z" \\ Ω', roles: ['ADMIN'] });
  });

  it('services: online check-in (201, then 200), kiosk check-ins by leaders, counts and the live polling fallback', async () => {
    const tid = freshTenant('svc');
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const member = await caller(t, tid, 'nia');
    const now = Date.now();
    const live = (await admin.send('POST', '/services', { name: 'Evening', startsAt: new Date(now - 600_000).toISOString() })).body;
    expect(live).toMatchObject({ name: 'Evening', endsAt: new Date(now - 600_000 + 7_200_000).toISOString() });
    const later = (await admin.send('POST', '/services', { name: 'Next week', startsAt: new Date(now + 7 * 86_400_000).toISOString() }))
      .body;
    const list = await member.get('/services');
    expect(list.body.services.map((s: any) => s.id)).toEqual([live.id, later.id]);

    const socket = await subscribe(member.token, ['service:counts']);
    const firstUpdate = next<any>(socket, 'service:count_update');
    const checkedIn = await member.send('POST', `/services/${live.id}/checkins`, {});
    expect(checkedIn.status).toBe(201);
    expect(checkedIn.body).toMatchObject({
      created: true,
      checkin: { serviceId: live.id, userId: 'nia', recordedBy: 'nia', checkoutTime: null, version: 1 },
      counts: { serviceId: live.id, totalCheckins: 1, currentAttendance: 1 },
    });
    expect((await firstUpdate)[0]).toMatchObject({ serviceId: live.id, totalCheckins: 1, currentAttendance: 1 });
    const again = await member.send('POST', `/services/${live.id}/checkins`, {});
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ created: false, checkin: { id: checkedIn.body.checkin.id } });

    expect((await member.send('POST', `/services/${live.id}/checkins`, { userId: 'someone' })).status).toBe(403);
    await admin.send('PUT', '/members/omar', { displayName: 'Omar' });
    const kiosk = await admin.send('POST', `/services/${live.id}/checkins`, { userId: 'omar', offlineId: 'kiosk-1' });
    expect(kiosk.body.checkin).toMatchObject({ userId: 'omar', recordedBy: 'admin', offlineId: 'kiosk-1' });
    // A user never seen is enrolled instead (community-sites.e2e-spec.ts); a removed member stays removed.
    await admin.send('PUT', '/members/ghost', {});
    await admin.send('DELETE', '/members/ghost');
    expect((await admin.send('POST', `/services/${live.id}/checkins`, { userId: 'ghost' })).body.code).toBe('member_not_found');
    expect((await member.send('POST', `/services/${uuid()}/checkins`, {})).body.code).toBe('service_not_found');

    expect((await member.get(`/services/${live.id}/counts`)).body).toEqual({
      serviceId: live.id,
      totalCheckins: 2,
      currentAttendance: 2,
      timestamp: expect.any(String),
    });
    const polled = await member.get('/live/service-counts');
    expect(polled.body).toEqual({
      services: [
        {
          serviceId: live.id,
          name: 'Evening',
          startsAt: live.startsAt,
          endsAt: live.endsAt,
          totalCheckins: 2,
          currentAttendance: 2,
          timestamp: polled.body.timestamp,
        },
      ],
      timestamp: expect.any(String),
    });

    expect((await admin.send('PATCH', `/services/${live.id}`, { endsAt: new Date(now - 3_600_000).toISOString() })).body.code).toBe(
      'validation_failed',
    );
    expect((await admin.send('PATCH', `/services/${live.id}`, { name: 'Evening service' })).body).toMatchObject({
      name: 'Evening service',
      version: 2,
    });
    expect((await admin.send('DELETE', `/services/${live.id}`)).status).toBe(204);
    expect((await member.get('/live/service-counts')).body.services).toEqual([]);
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM community_checkins WHERE service_id = $1 AND deleted_at IS NULL`, [
      live.id,
    ]);
    expect(rows[0].n).toBe(0);
  });

  it('announcements: stored and published as announcement:new on the tenant’s channel (leaders and admins only)', async () => {
    const tid = freshTenant('ann');
    const member = await caller(t, tid, 'pia');
    const leader = await caller(t, tid, 'lou', ['LEADER']);
    const socket = await subscribe(member.token, ['announcements']);
    const outsider = await subscribe(await t.token({ sub: 'pia', tid: freshTenant('other') }), ['announcements']);
    let leaked = false;
    outsider.on('announcement:new', () => (leaked = true));
    const got = next<any>(socket, 'announcement:new');
    expect((await member.send('POST', '/announcements', { title: 'x', content: 'y' })).status).toBe(403);
    const posted = await leader.send('POST', '/announcements', { title: 'Parking', content: 'Use the north lot', priority: 'high' });
    expect(posted.status).toBe(201);
    const [payload] = await got;
    expect(payload).toEqual({
      id: posted.body.id,
      title: 'Parking',
      content: 'Use the north lot',
      priority: 'high',
      createdAt: posted.body.createdAt,
    });
    const { rows } = await db.query(`SELECT tenant_id, created_by, priority FROM community_announcements WHERE id = $1`, [posted.body.id]);
    expect(rows).toEqual([{ tenant_id: tid, created_by: 'lou', priority: 'high' }]);
    // ...and pushed, through notifications, to the roles seed 000 names by default.
    const push = await db.query(
      `SELECT category, priority, title, recipients, data FROM notifications WHERE tenant_id = $1 AND idempotency_key = $2`,
      [tid, `announcement:${posted.body.id}`],
    );
    expect(push.rows).toEqual([
      {
        category: 'announcement',
        priority: 'high',
        title: 'Parking',
        recipients: { roles: ['MEMBER', 'LEADER', 'ADMIN'] },
        data: { announcementId: posted.body.id },
      },
    ]);
    const leadersOnly = await leader.send('POST', '/announcements', { title: 'Leaders', content: 'Meet at 9', roles: ['LEADER'] });
    const pushed = await db.query(`SELECT recipients FROM notifications WHERE idempotency_key = $1`, [
      `announcement:${leadersOnly.body.id}`,
    ]);
    expect(pushed.rows).toEqual([{ recipients: { roles: ['LEADER'] } }]);
    expect((await leader.send('POST', '/announcements', { title: 'x', content: 'y', roles: ['SERVICE'] })).body.code).toBe(
      'validation_failed',
    );
    expect((await leader.send('POST', '/announcements', { title: 'x', content: 'y', priority: 'panic' })).body.code).toBe(
      'validation_failed',
    );
    expect(leaked).toBe(false);
  });

  it('members: enrolled from the token on their first request (not server callers), then kept by PUT /members', async () => {
    const tid = freshTenant('enr');
    const members = async () =>
      (await db.query(`SELECT user_id, roles, display_name FROM community_members WHERE tenant_id = $1 ORDER BY user_id`, [tid])).rows;
    const rae = await caller(t, tid, 'rae', ['LEADER']);
    await rae.get('/services');
    await (await caller(t, tid, 'svc', ['SERVICE'])).get('/services');
    expect(await members()).toEqual([{ user_id: 'rae', roles: ['LEADER'], display_name: 'rae' }]);
    const admin = await caller(t, tid, 'admin', ['ADMIN']);
    const put = await admin.send('PUT', '/members/rae', { displayName: 'Rae', roles: ['MEMBER'] });
    expect(put.body).toMatchObject({ userId: 'rae', displayName: 'Rae', roles: ['MEMBER'], status: 'active', version: 2 });
    // The token still says LEADER: the member record is what the host backend set.
    await rae.get('/services');
    expect((await members()).find((m) => m.user_id === 'rae')).toEqual({ user_id: 'rae', roles: ['MEMBER'], display_name: 'Rae' });
    const same = await admin.send('PUT', '/members/rae', { displayName: 'Rae' });
    expect(same.body.version).toBe(2); // nothing changed, nothing written
    expect((await admin.send('PUT', '/members/bad id', {})).status).toBe(400);
    expect((await rae.send('PUT', '/members/rae', { roles: ['ADMIN'] })).status).toBe(403);
    expect((await admin.send('PUT', '/members/rae', { roles: ['SUPERUSER'] })).body.code).toBe('validation_failed');
  });

  it("enrolls members on community routes and sync pulls only, not on other modules' routes", async () => {
    const tid = freshTenant('scope');
    const enrolled = async (userId: string) =>
      (await db.query(`SELECT 1 FROM community_members WHERE tenant_id = $1 AND user_id = $2`, [tid, userId])).rowCount === 1;
    const other = await caller(t, tid, 'elsewhere', ['MEMBER']);
    await other.get('/notifications');
    expect(await enrolled('elsewhere')).toBe(false);
    const puller = await caller(t, tid, 'puller', ['MEMBER']);
    await puller.get('/sync/events');
    expect(await enrolled('puller')).toBe(true);
    const changes = await caller(t, tid, 'changes', ['MEMBER']);
    await changes.get('/sync/changes');
    expect(await enrolled('changes')).toBe(true);
  });

  it('documents every route in OpenAPI', async () => {
    const doc = (await request(t.url).get('/docs-json').expect(200)).body as { paths: Record<string, unknown> };
    const paths = Object.keys(doc.paths);
    for (const path of [
      '/api/mobile/v1/sync/changes',
      '/api/mobile/v1/sync/{collection}',
      '/api/mobile/v1/sync/checkins/bulk',
      '/api/mobile/v1/sync/events/rsvp/bulk',
      '/api/mobile/v1/events',
      '/api/mobile/v1/events/{id}',
      '/api/mobile/v1/services/{id}/checkins',
      '/api/mobile/v1/services/{id}/counts',
      '/api/mobile/v1/live/service-counts',
      '/api/mobile/v1/members/{userId}',
      '/api/mobile/v1/announcements',
    ])
      expect(paths).toContain(path);
  });
});
