import { eventually, sleep } from '../tools/scratch';
import { connect, ClientSocket, request as ask } from './support/sockets';
import { caller, Caller, freshTenant, Replica, UNTHROTTLED, uuid } from './support/sync';
import { startTestApp, TestApp } from './support/test-app';

/**
 * Sites within a tenant, in the church app's shapes: one tenant, several churches
 * (`broadcastServiceCounts(tenantId, churchId, {serviceId, totalCheckins, currentAttendance, timestamp})`),
 * its client subscribing to `service:counts` and `announcements`, plus its church's `site:<churchId>`.
 */
describe('community: sites within a tenant, members the host never enrolled', () => {
  let t: TestApp;
  const sockets: ClientSocket[] = [];
  beforeAll(async () => {
    t = await startTestApp(UNTHROTTLED);
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(() => t.close());

  /** The church app's client: seed 000's subscribe, with its church's channel added. */
  const churchClient = async (who: Caller, churchId: string) => {
    const socket = await connect(t.url, who.token);
    sockets.push(socket);
    const counts: any[] = [];
    const announcements: any[] = [];
    socket.on('service:count_update', (data) => counts.push(data));
    socket.on('announcement:new', (a) => announcements.push(a));
    const ack = await ask(socket, 'subscribe', { channels: ['service:counts', 'announcements', `site:${churchId}`] });
    return { socket, counts, announcements, ack };
  };

  /** One tenant, two churches, members enrolled in bulk by the host. */
  const world = async () => {
    const tid = freshTenant('site');
    const host = await caller(t, tid, 'church-backend', ['SERVICE']);
    const enrolled = await host.send('POST', '/members/bulk', {
      members: [
        { userId: 'nora', displayName: 'Nora', siteId: 'church-north' },
        { userId: 'sam', displayName: 'Sam', siteId: 'church-south' },
        { userId: 'pastor-tess', displayName: 'Tess', roles: ['LEADER'], siteId: 'church-north' },
        { userId: 'wally', displayName: 'Wally' }, // tenant-wide
      ],
    });
    expect(enrolled.status).toBe(200);
    return {
      tid,
      host,
      nora: await caller(t, tid, 'nora'),
      sam: await caller(t, tid, 'sam'),
      wally: await caller(t, tid, 'wally'),
      admin: await caller(t, tid, 'admin', ['ADMIN']),
    };
  };
  const startsNow = () => new Date(Date.now() - 60_000).toISOString();

  it('the host upserts members in bulk: validated, capped at 500, idempotent', async () => {
    const tid = freshTenant('bulk');
    const host = await caller(t, tid, 'church-backend', ['SERVICE']);
    const list = [
      { userId: 'a', displayName: 'Ann', siteId: 'church-north' },
      { userId: 'b', roles: ['LEADER'] },
    ];
    const first = await host.send('POST', '/members/bulk', { members: list });
    expect(first.status).toBe(200);
    expect(first.body.results).toEqual([
      { userId: 'a', status: 'created', member: expect.objectContaining({ userId: 'a', displayName: 'Ann', siteId: 'church-north' }) },
      { userId: 'b', status: 'created', member: expect.objectContaining({ userId: 'b', roles: ['LEADER'], siteId: null }) },
    ]);
    const again = await host.send('POST', '/members/bulk', { members: list });
    expect(again.body.results.map((r: any) => r.status)).toEqual(['unchanged', 'unchanged']);
    expect(again.body.results[0].member.version).toBe(first.body.results[0].member.version);
    // Absent fields stay; siteId null makes a member tenant-wide again.
    const moved = await host.send('POST', '/members/bulk', { members: [{ userId: 'a', siteId: null }, { userId: 'c' }] });
    expect(moved.body.results).toEqual([
      { userId: 'a', status: 'updated', member: expect.objectContaining({ displayName: 'Ann', siteId: null }) },
      { userId: 'c', status: 'created', member: expect.objectContaining({ displayName: 'c', roles: ['MEMBER'], status: 'active' }) },
    ]);

    const bad = async (body: unknown) => {
      const res = await host.send('POST', '/members/bulk', body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
      return res.body;
    };
    await bad({});
    await bad({ members: [] });
    await bad({ members: [{ displayName: 'no id' }] });
    await bad({ members: [{ userId: 'x', siteId: 'has:colon' }] });
    await bad({ members: [{ userId: 'x', roles: ['OWNER'] }] });
    expect(JSON.stringify(await bad({ members: [{ userId: 'x' }, { userId: 'x' }] }))).toMatch(/more than once/);
    await bad({ members: Array.from({ length: 501 }, (_, i) => ({ userId: `m${i}` })) });
    const full = await host.send('POST', '/members/bulk', { members: Array.from({ length: 500 }, (_, i) => ({ userId: `m${i}` })) });
    expect(full.status).toBe(200);
    expect(full.body.results).toHaveLength(500);
    // Members may not.
    expect((await (await caller(t, tid, 'a')).send('POST', '/members/bulk', { members: [{ userId: 'a' }] })).status).toBe(403);
  });

  it('live: a church’s counts and announcements reach its members on site:<churchId>; tenant-wide ones reach everyone', async () => {
    const { nora, sam, wally, admin, host } = await world();
    const north = await churchClient(nora, 'church-north');
    expect(north.ack.subscribed).toEqual(['service:counts', 'announcements', 'site:church-north']);
    const south = await churchClient(sam, 'church-south');
    expect(south.ack.subscribed).toHaveLength(3);
    // Not another church's channel; a tenant-wide member has no church channel; leaders, admins and the host may.
    const wrong = await ask(north.socket, 'subscribe', { channels: ['site:church-south'] });
    expect(wrong.rejected).toEqual([{ channel: 'site:church-south', reason: 'forbidden' }]);
    const wallyClient = await churchClient(wally, 'church-north');
    expect(wallyClient.ack.rejected).toEqual([{ channel: 'site:church-north', reason: 'forbidden' }]);
    const adminSocket = await connect(t.url, admin.token);
    sockets.push(adminSocket);
    expect((await ask(adminSocket, 'subscribe', { channels: ['site:church-north', 'site:church-south'] })).rejected).toEqual([]);

    const northService = (await host.send('POST', '/services', { name: 'North 9am', startsAt: startsNow(), siteId: 'church-north' })).body;
    const allService = (await host.send('POST', '/services', { name: 'Joint service', startsAt: startsNow() })).body;
    expect(northService.siteId).toBe('church-north');
    expect(allService.siteId).toBeNull();

    expect((await nora.send('POST', `/services/${northService.id}/checkins`, {})).status).toBe(201);
    expect((await sam.send('POST', `/services/${allService.id}/checkins`, {})).status).toBe(201);
    await eventually(() => north.counts.length === 2 && south.counts.length === 1 && wallyClient.counts.length === 1);
    expect(north.counts.map((c) => c.serviceId).sort()).toEqual([northService.id, allService.id].sort());
    expect(south.counts).toEqual([{ serviceId: allService.id, totalCheckins: 1, currentAttendance: 1, timestamp: expect.any(String) }]);

    const local = await admin.send('POST', '/announcements', {
      title: 'North picnic',
      content: 'Sunday after service',
      siteId: 'church-north',
    });
    expect(local.status).toBe(201);
    expect(local.body.siteId).toBe('church-north');
    await admin.send('POST', '/announcements', { title: 'All churches', content: 'Conference' });
    await eventually(() => north.announcements.length === 2 && south.announcements.length === 1);
    expect(north.announcements.map((a) => a.title).sort()).toEqual(['All churches', 'North picnic']);
    expect(north.announcements.find((a) => a.title === 'North picnic')).toMatchObject({ siteId: 'church-north', priority: 'normal' });
    expect(south.announcements.map((a) => a.title)).toEqual(['All churches']);
    await sleep(100);
    expect(wallyClient.announcements.map((a) => a.title)).toEqual(['All churches']);

    // The site's announcement is pushed to its members (an inbox entry each), not to the other church.
    await eventually(async () => (await nora.get('/notifications')).body.items.some((n: any) => n.title === 'North picnic'));
    expect((await sam.get('/notifications')).body.items.some((n: any) => n.title === 'North picnic')).toBe(false);
  });

  it('polling: live counts and the site channel’s log follow the same rule', async () => {
    const { nora, sam, admin, host } = await world();
    const north = (await host.send('POST', '/services', { name: 'North', startsAt: startsNow(), siteId: 'church-north' })).body;
    const south = (await host.send('POST', '/services', { name: 'South', startsAt: startsNow(), siteId: 'church-south' })).body;
    const all = (await host.send('POST', '/services', { name: 'All', startsAt: startsNow() })).body;
    const ids = async (who: Caller, query = '') =>
      ((await who.get(`/live/service-counts${query}`)).body.services as any[]).map((s) => s.serviceId).sort();
    expect(await ids(nora)).toEqual([north.id, all.id].sort());
    expect(await ids(sam)).toEqual([south.id, all.id].sort());
    expect(await ids(admin)).toEqual([north.id, south.id, all.id].sort());
    expect(await ids(admin, '?siteId=church-south')).toEqual([south.id, all.id].sort());
    expect((await admin.get('/live/service-counts?siteId=bad:id')).status).toBe(400);
    const live = (await nora.get('/live/service-counts')).body.services.find((s: any) => s.serviceId === north.id);
    expect(live).toMatchObject({ name: 'North', siteId: 'church-north', totalCheckins: 0 });
    const tenantWide = (await nora.get('/live/service-counts')).body.services.find((s: any) => s.serviceId === all.id);
    expect(tenantWide).not.toHaveProperty('siteId');

    await nora.send('POST', `/services/${north.id}/checkins`, {});
    const polled = await eventually(async () => {
      const res = await nora.get('/realtime/events', { channel: 'site:church-north' });
      return res.body.events.length === 1 && res.body;
    });
    expect(polled.events[0]).toMatchObject({ event: 'service:count_update', data: { serviceId: north.id, totalCheckins: 1 } });
    expect((await sam.get('/realtime/events', { channel: 'site:church-north' })).status).toBe(403);
  });

  it('sync: members see their church’s members and tenant-wide ones; a change of church re-evaluates their replica', async () => {
    const { nora, sam, admin, host } = await world();
    const noraView = new Replica(nora, 'members');
    await noraView.drain();
    const names = (r: Replica) => [...r.rows.values()].map((m) => m.userId).sort();
    expect(names(noraView)).toEqual(['nora', 'pastor-tess', 'wally']);
    const samView = new Replica(sam, 'members');
    await samView.drain();
    expect(names(samView)).toEqual(['sam', 'wally']);
    const adminView = new Replica(admin, 'members');
    await adminView.drain();
    expect(names(adminView)).toEqual(['admin', 'nora', 'pastor-tess', 'sam', 'wally']);
    expect([...noraView.rows.values()].find((m) => m.userId === 'pastor-tess')).toMatchObject({ siteId: 'church-north' });

    // Sam moves to the north church: Nora's replica gains him, his own loses nothing of his and gains the north.
    await host.send('PUT', '/members/sam', { siteId: 'church-north' });
    await eventually(async () => {
      await noraView.drain();
      await samView.drain();
      return names(noraView).includes('sam') && names(samView).includes('nora');
    });
    // (The admin became a tenant-wide member with their first pull.)
    expect(names(samView)).toEqual(['admin', 'nora', 'pastor-tess', 'sam', 'wally']);
    // Nora moves south: the north members leave her replica (as deletions), only tenant-wide ones stay.
    await host.send('POST', '/members/bulk', { members: [{ userId: 'nora', siteId: 'church-south' }] });
    await eventually(async () => {
      await noraView.drain();
      return !names(noraView).includes('pastor-tess');
    });
    expect(names(noraView)).toEqual(['admin', 'nora', 'wally']);
  });

  it('a check-in or RSVP a leader or the host writes for a user never seen enrolls them (a removed member stays removed)', async () => {
    const { host, admin, nora } = await world();
    const service = (await host.send('POST', '/services', { name: 'North', startsAt: startsNow(), siteId: 'church-north' })).body;
    // Online, by the host: the member is created at the service's church.
    const online = await host.send('POST', `/services/${service.id}/checkins`, { userId: 'visitor-1' });
    expect(online.status).toBe(201);
    expect(online.body.checkin).toMatchObject({ userId: 'visitor-1', recordedBy: 'church-backend' });
    // Offline, a leader's kiosk (the church app's {serviceId, checkinTime, offlineId}, with userId).
    const tess = await caller(t, admin.tenantId, 'pastor-tess', ['LEADER']);
    const kiosk = await tess.send('POST', '/sync/checkins/bulk', {
      checkins: [{ serviceId: service.id, checkinTime: new Date().toISOString(), offlineId: uuid(), userId: 'visitor-2' }],
    });
    expect(kiosk.body.results[0]).toMatchObject({ status: 'created' });
    const event = (await admin.send('POST', '/events', { title: 'Retreat', startsAt: '2031-01-01T10:00:00Z' })).body;
    const rsvp = await tess.send('POST', '/sync/events/rsvp/bulk', {
      rsvps: [{ eventId: event.id, status: 'going', offlineId: uuid(), userId: 'visitor-3' }],
    });
    expect(rsvp.body.results[0]).toMatchObject({ status: 'created' });

    const adminView = new Replica(admin, 'members');
    await adminView.drain();
    const byUser = new Map([...adminView.rows.values()].map((m) => [m.userId, m]));
    expect(byUser.get('visitor-1')).toMatchObject({ roles: ['MEMBER'], status: 'active', siteId: 'church-north' });
    expect(byUser.get('visitor-2')).toMatchObject({ siteId: 'church-north' });
    expect(byUser.get('visitor-3')).toMatchObject({ roles: ['MEMBER'], siteId: null });
    const rsvps = new Replica(admin, 'rsvps');
    await rsvps.drain();
    expect([...rsvps.rows.values()].map((r) => [r.userId, r.status])).toEqual([['visitor-3', 'going']]);

    // Members may not answer for others; removed members are not brought back.
    const forOther = await nora.send('POST', '/sync/events/rsvp/bulk', {
      rsvps: [{ eventId: event.id, status: 'going', offlineId: uuid(), userId: 'sam' }],
    });
    expect(forOther.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'forbidden' } });
    await host.send('DELETE', '/members/visitor-1');
    const other = (await host.send('POST', '/services', { name: 'Later', startsAt: startsNow() })).body;
    expect((await host.send('POST', `/services/${other.id}/checkins`, { userId: 'visitor-1' })).body.code).toBe('member_not_found');
    const removed = await tess.send('POST', '/sync/events/rsvp/bulk', {
      rsvps: [{ eventId: event.id, status: 'maybe', offlineId: uuid(), userId: 'visitor-1' }],
    });
    expect(removed.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'member_not_found' } });
  });
});
