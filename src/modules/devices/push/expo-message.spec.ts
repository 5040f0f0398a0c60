import { classifyExpoRequestError, classifyExpoTicketError, expoMessageFor } from './expo-message';
import { providerOfToken, pushTokenProblem } from './push-tokens';

const base = { data: { a: '1' }, priority: 'normal' as const, createdAt: Date.UTC(2026, 0, 1) };

describe('Expo messages', () => {
  it('maps an alert: title, body, data, sound; high stays high, normal and low are normal', () => {
    expect(expoMessageFor({ ...base, title: 'T', body: 'B', priority: 'high', collapseKey: 'c' })).toEqual({
      title: 'T',
      body: 'B',
      data: { a: '1' },
      priority: 'high',
      sound: 'default',
      collapseId: 'c',
      tag: 'c',
    });
    expect(expoMessageFor({ ...base, body: 'B', priority: 'low' })).toEqual({ body: 'B', data: { a: '1' }, priority: 'normal' });
  });

  it('carries the badge, and the sound the payload names (none for `none`)', () => {
    expect(expoMessageFor({ ...base, title: 'T', badge: 4, sound: 'chime.caf' })).toMatchObject({ badge: 4, sound: 'chime.caf' });
    expect(expoMessageFor({ ...base, title: 'T', priority: 'low', sound: 'default' }).sound).toBe('default');
    expect(expoMessageFor({ ...base, title: 'T', sound: 'none', badge: 0 })).not.toHaveProperty('sound');
    expect(expoMessageFor({ ...base, title: 'T', badge: 0 }).badge).toBe(0);
  });

  it('makes a silent push a content-available one, and the TTL absolute from creation', () => {
    expect(expoMessageFor({ ...base, ttlSeconds: 60 })).toEqual({
      data: { a: '1' },
      priority: 'normal',
      contentAvailable: true,
      expiration: base.createdAt / 1000 + 60,
    });
    expect(expoMessageFor({ ...base, ttlSeconds: 0 }).ttl).toBe(0);
  });
});

describe('Expo errors', () => {
  it('classifies ticket and receipt errors', () => {
    const kind = (error?: string) => classifyExpoTicketError({ message: 'm', details: error ? { error: error as never } : undefined });
    expect(kind('DeviceNotRegistered')).toMatchObject({ kind: 'token', code: 'expo/DeviceNotRegistered' });
    expect(kind('MessageTooBig').kind).toBe('payload');
    expect(kind('InvalidCredentials').kind).toBe('config');
    expect(kind('MessageRateExceeded').kind).toBe('retry');
    expect(kind(undefined)).toMatchObject({ kind: 'retry', code: 'expo/unknown-error' });
  });

  it('retries 429, 5xx and network errors; 401/403 are config, other 4xx payload', () => {
    const of = (statusCode?: number, code?: string) => classifyExpoRequestError(Object.assign(new Error('x'), { statusCode, code }));
    expect(of(429, 'TOO_MANY_REQUESTS')).toMatchObject({ kind: 'retry', code: 'expo/TOO_MANY_REQUESTS' });
    expect(of(503)).toMatchObject({ kind: 'retry', code: 'expo/http-503' });
    expect(of()).toMatchObject({ kind: 'retry', code: 'expo/network-error' });
    expect(of(401).kind).toBe('config');
    expect(of(400, 'PUSH_TOO_MANY_EXPERIENCE_IDS').kind).toBe('payload');
  });
});

describe('push token forms', () => {
  it('derives the provider from the form and validates it for that provider', () => {
    expect(providerOfToken('ExponentPushToken[abc_DEF-123]')).toBe('expo');
    expect(providerOfToken('ExpoPushToken[abc]')).toBe('expo');
    expect(providerOfToken('dGVzdC10b2tlbjpBUEE5MWJF')).toBe('fcm');
    expect(pushTokenProblem('ExponentPushToken[abc_DEF-123]')).toBeUndefined();
    expect(pushTokenProblem('ExpoPushToken[]')).toMatch(/Expo push token/);
    expect(pushTokenProblem('ExpoPushToken[a]b]')).toMatch(/Expo push token/);
    expect(pushTokenProblem('ExpoPushToken[abc', 'push_token')).toMatch(/^push_token must be an Expo push token/);
    expect(pushTokenProblem('fcm token')).toMatch(/printable ASCII/);
  });
});
