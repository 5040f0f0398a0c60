import { fcmMessageFor, withBadge } from './fcm-message';

describe('fcmMessageFor', () => {
  const createdAt = Date.UTC(2026, 0, 1, 12, 0, 0);

  it('maps high priority to android high and apns-priority 10, alert', () => {
    const m = fcmMessageFor({ title: 'T', body: 'B', data: { a: '1' }, priority: 'high', createdAt }, createdAt);
    expect(m.notification).toEqual({ title: 'T', body: 'B' });
    expect(m.android).toEqual({ priority: 'high' });
    expect(m.apns).toEqual({ headers: { 'apns-priority': '10', 'apns-push-type': 'alert' }, payload: { aps: { sound: 'default' } } });
    expect(m.webpush).toEqual({ headers: { Urgency: 'high' } });
    expect(m.data).toEqual({ a: '1' });
  });

  it('maps normal and low priority to android normal and apns-priority 5', () => {
    const normal = fcmMessageFor({ title: 'T', data: {}, priority: 'normal', createdAt });
    expect(normal.android?.priority).toBe('normal');
    expect(normal.apns?.headers?.['apns-priority']).toBe('5');
    const low = fcmMessageFor({ title: 'T', data: {}, priority: 'low', createdAt });
    expect(low.android).toEqual({ priority: 'normal', notification: { priority: 'low' } });
    expect(low.webpush?.headers?.Urgency).toBe('low');
  });

  it('makes data-only messages silent background pushes, at apns-priority 5 even when high', () => {
    const m = fcmMessageFor({ data: { sync: '1' }, priority: 'high', createdAt });
    expect(m.notification).toBeUndefined();
    expect(m.android?.priority).toBe('high');
    expect(m.apns).toEqual({
      headers: { 'apns-priority': '5', 'apns-push-type': 'background' },
      payload: { aps: { contentAvailable: true } },
    });
  });

  it('carries the collapse key and a TTL measured from creation', () => {
    const m = fcmMessageFor(
      { title: 'T', data: {}, priority: 'normal', collapseKey: 'score', ttlSeconds: 600, createdAt },
      createdAt + 60_000,
    );
    expect(m.android).toMatchObject({ collapseKey: 'score', ttl: 540_000 });
    expect(m.apns?.headers).toMatchObject({ 'apns-collapse-id': 'score', 'apns-expiration': String(createdAt / 1000 + 600) });
    expect(m.webpush?.headers).toMatchObject({ TTL: '540' });
  });

  it('puts the sound and the badge in the APNs block: default sound on alerts, none on low priority or silent ones', () => {
    expect(fcmMessageFor({ title: 'T', data: {}, priority: 'normal', createdAt }).apns?.payload).toEqual({ aps: { sound: 'default' } });
    expect(fcmMessageFor({ title: 'T', data: {}, priority: 'low', createdAt }).apns?.payload).toBeUndefined();
    expect(fcmMessageFor({ title: 'T', data: {}, priority: 'high', sound: 'chime.caf', badge: 3, createdAt }).apns?.payload).toEqual({
      aps: { sound: 'chime.caf', badge: 3 },
    });
    expect(fcmMessageFor({ title: 'T', data: {}, priority: 'high', sound: 'none', badge: 0, createdAt }).apns?.payload).toEqual({
      aps: { badge: 0 },
    });
    expect(fcmMessageFor({ data: {}, priority: 'high', sound: 'chime.caf', createdAt }).apns?.payload).toEqual({
      aps: { contentAvailable: true },
    });
    // A target's own badge replaces the payload's and leaves the rest as it was.
    const m = fcmMessageFor({ title: 'T', data: {}, priority: 'high', badge: 1, createdAt });
    expect(withBadge(m, 7).apns).toEqual({ headers: m.apns!.headers, payload: { aps: { sound: 'default', badge: 7 } } });
    expect(m.apns?.payload?.aps.badge).toBe(1);
    expect(withBadge(m, undefined)).toBe(m);
  });

  it('sends a TTL of 0 as "now or never" everywhere', () => {
    const m = fcmMessageFor({ title: 'T', data: {}, priority: 'high', ttlSeconds: 0, createdAt });
    expect(m.android?.ttl).toBe(0);
    expect(m.apns?.headers?.['apns-expiration']).toBe('0');
    expect(m.webpush?.headers?.TTL).toBe('0');
  });
});
